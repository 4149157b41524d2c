{{/* Names, labels and the shared pieces of every Portico pod. */}}

{{- define "portico.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portico.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "portico.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: portico
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "name" "kong") */}}
{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{- define "portico.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "portico.serviceAccountName" -}}
{{- include "portico.fullname" . }}
{{- end }}

{{/* The pod-level part, as fits the image's own user: (dict "uid" 10001 "gid" 10001). The
containers repeat what applies to them (their own securityContext, kept). */}}
{{- define "portico.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
fsGroup: {{ .gid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Non-root, read-only, nothing extra: every Portico container. */}}
{{- define "portico.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "portico.databaseSecretName" -}}
{{- if .Values.postgres.enabled }}{{ include "portico.fullname" . }}-database{{ else }}{{ required "postgres.enabled=false needs externalDatabase.existingSecret (a Secret with the key DATABASE_URL)" .Values.externalDatabase.existingSecret }}{{ end }}
{{- end }}

{{- define "portico.redisSecretName" -}}
{{- if .Values.redis.enabled }}{{ include "portico.fullname" . }}-redis{{ else }}{{ required "redis.enabled=false needs externalRedis.existingSecret (a Secret with the keys REDIS_URL and REDIS_ADDRESS)" .Values.externalRedis.existingSecret }}{{ end }}
{{- end }}

{{/* Where Kong's rate-limiting counts: the chart's Redis, or the external one. */}}
{{- define "portico.redis.host" -}}
{{- if .Values.redis.enabled }}{{ include "portico.fullname" . }}-redis.{{ .Release.Namespace }}.svc.cluster.local{{ else }}{{ required "redis.enabled=false needs externalRedis.host (for Kong's rate limiting)" .Values.externalRedis.host }}{{ end }}
{{- end }}

{{- define "portico.redis.port" -}}
{{- if .Values.redis.enabled }}6379{{ else }}{{ .Values.externalRedis.port }}{{ end }}
{{- end }}

{{/* The environment every Portico process gets: (dict "root" $ "function" NAME) */}}
{{- define "portico.env" -}}
- name: PORTICO_FUNCTION
  value: {{ .function | quote }}
- name: PORTICO_LOG_LEVEL
  value: {{ .root.Values.functions.logLevel | quote }}
- name: PORTICO_DRAIN_SECONDS
  value: {{ .root.Values.functions.drainSeconds | quote }}
- name: PORTICO_DB_CONNECTION_BUDGET
  value: {{ .root.Values.functions.connectionBudget | quote }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "portico.databaseSecretName" .root }}
      key: DATABASE_URL
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "portico.redisSecretName" .root }}
      key: REDIS_URL
{{- end }}

{{- define "portico.probes" -}}
readinessProbe:
  httpGet:
    path: /readyz
    port: 8080
  periodSeconds: 5
livenessProbe:
  httpGet:
    path: /healthz
    port: 8080
  periodSeconds: 10
  failureThreshold: 3
{{- end }}

{{/* requests from the values, the memory limit from the manifest: (dict "root" $ "memory" "256Mi") */}}
{{- define "portico.functionResources" -}}
requests:
  {{- toYaml .root.Values.functions.resources.requests | nindent 2 }}
limits:
  {{- toYaml .root.Values.functions.resources.limits | nindent 2 }}
  memory: {{ .memory }}
{{- end }}

{{/* The shared secret the gateway adds to every upstream request (X-Portico-Gateway-Secret);
a function trusts X-Consumer-* only from a request that carries it. */}}
{{- define "portico.gatewaySecretName" -}}
{{- .Values.gatewaySecret.existingSecret | default (printf "%s-gateway" (include "portico.fullname" .)) }}
{{- end }}

{{- define "portico.gatewaySecretEnv" -}}
- name: PORTICO_GATEWAY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "portico.gatewaySecretName" . }}
      key: PORTICO_GATEWAY_SECRET
{{- end }}

{{/* --- NetworkPolicy pieces ------------------------------------------------------------------
Every selector names the release (app.kubernetes.io/instance) as well as the component, so two
releases in one namespace never admit each other's pods. */}}

{{/* The pods of one component of this release: (dict "root" $ "component" "relay") */}}
{{- define "portico.componentPods" -}}
podSelector:
  matchLabels:
    app.kubernetes.io/instance: {{ .root.Release.Name }}
    portico.dev/component: {{ .component }}
{{- end }}

{{/* Egress to the cluster's DNS (networkPolicy.dns), port 53 over UDP and TCP. */}}
{{- define "portico.egress.dns" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
  {{- with .Values.networkPolicy.dns }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* Egress to Postgres: the chart's own, or the external one (networkPolicy.externalDatabase). */}}
{{- define "portico.egress.postgres" -}}
{{- if .Values.postgres.enabled }}
- ports:
    - {port: 5432, protocol: TCP}
  to:
    - {{- include "portico.componentPods" (dict "root" . "component" "postgres") | nindent 6 }}
{{- else }}
- ports:
    - {port: {{ .Values.networkPolicy.externalDatabase.port }}, protocol: TCP}
  {{- with .Values.networkPolicy.externalDatabase.cidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Egress to Redis: the chart's own, or the external one (networkPolicy.externalRedis). */}}
{{- define "portico.egress.redis" -}}
{{- if .Values.redis.enabled }}
- ports:
    - {port: 6379, protocol: TCP}
  to:
    - {{- include "portico.componentPods" (dict "root" . "component" "redis") | nindent 6 }}
{{- else }}
- ports:
    - {port: {{ .Values.externalRedis.port }}, protocol: TCP}
  {{- with .Values.networkPolicy.externalRedis.cidrs }}
  to:
    {{- range . }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Ingress from the metrics scrapers (networkPolicy.metricsScrapers) on a port, or nothing. */}}
{{- define "portico.ingress.metrics" -}}
{{- with .root.Values.networkPolicy.metricsScrapers }}
- ports:
    - {port: {{ $.port }}, protocol: TCP}
  from:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end }}

{{/* The namespaces of Knative Serving and its networking layer, as NetworkPolicy peers. */}}
{{- define "portico.knativeNamespacePeers" -}}
{{- range .Values.networkPolicy.knativeNamespaces }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
{{- end }}
{{- end }}
