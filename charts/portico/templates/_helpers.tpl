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
