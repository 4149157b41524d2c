{{/* Names, labels and the shared pieces of every Portico pod. */}}

{{/* The chart's name: app.kubernetes.io/name on every object (nameOverride). */}}
{{- define "portico.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* What every object name starts with: fullnameOverride, or the release name followed by
the chart's name (the release name alone when it already contains that name). */}}
{{- define "portico.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* An object's name: <fullname>-<suffix>, (dict "root" $ "suffix" "kong"); a function's
objects are <fullname>-<function>. Never truncated: Kong's upstream URLs (the generated
kongConfig) spell the functions' Service names as <fullname>-<function>, and two truncated
names could clash. Too long is refused (a Service name is a DNS label, at most 63
characters). */}}
{{- define "portico.objectName" -}}
{{- $name := printf "%s-%s" (include "portico.fullname" .root) .suffix }}
{{- if gt (len $name) 63 }}
{{- fail (printf "the object name %q is %d characters, more than 63: choose a shorter release name, nameOverride or fullnameOverride" $name (len $name)) }}
{{- end }}
{{- $name }}
{{- end }}

{{- define "portico.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels of every object of one component: (dict "root" $ "component" "kong"). The
component is a function's name, kong, relay, postgres, redis, migrate, test, or shared (the
objects several components use: the ServiceAccount, the gateway Secret, the default-deny
NetworkPolicy). */}}
{{- define "portico.labels" -}}
helm.sh/chart: {{ include "portico.chart" .root }}
{{ include "portico.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: portico
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* What a workload's selector matches: name, instance and component, none of which changes
on an upgrade (a Deployment's or StatefulSet's selector cannot). (dict "root" $ "component" X) */}}
{{- define "portico.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portico.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* A pod's labels: its object's, and its role for the NetworkPolicies (portico.dev/role:
function, worker, gateway, relay, postgres, redis, migrate, test).
(dict "root" $ "component" X "role" Y) */}}
{{- define "portico.podLabels" -}}
{{ include "portico.labels" . }}
portico.dev/role: {{ .role }}
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
{{- if .Values.postgres.enabled }}{{ include "portico.objectName" (dict "root" . "suffix" "database") }}{{ else }}{{ required "postgres.enabled=false needs externalDatabase.existingSecret (a Secret with the key DATABASE_URL)" .Values.externalDatabase.existingSecret }}{{ end }}
{{- end }}

{{- define "portico.redisSecretName" -}}
{{- if .Values.redis.enabled }}{{ include "portico.objectName" (dict "root" . "suffix" "redis") }}{{ else }}{{ required "redis.enabled=false needs externalRedis.existingSecret (a Secret with the keys REDIS_URL and REDIS_ADDRESS)" .Values.externalRedis.existingSecret }}{{ end }}
{{- end }}

{{/* Where Kong's rate-limiting counts: the chart's Redis, or the external one. */}}
{{- define "portico.redis.host" -}}
{{- if .Values.redis.enabled }}{{ include "portico.objectName" (dict "root" . "suffix" "redis") }}.{{ .Release.Namespace }}.svc.cluster.local{{ else }}{{ required "redis.enabled=false needs externalRedis.host (for Kong's rate limiting)" .Values.externalRedis.host }}{{ end }}
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

{{/* What a function or worker process gets besides portico.env: the egress guard's mode and
the base URL of each dependency its manifest declares, from dependencies.<url_env> or else the
manifest's url (a dependency with neither gets no variable; NOTES.txt lists it).
(dict "root" $ "fn" $fn) */}}
{{- define "portico.functionEnv" -}}
- name: PORTICO_EGRESS
  value: {{ .root.Values.functions.egress | quote }}
{{- range .fn.dependencies }}
{{- $url := index $.root.Values.dependencies .env | default .url }}
{{- if $url }}
- name: {{ .env }}
  value: {{ $url | quote }}
{{- end }}
{{- end }}
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
{{- .Values.gatewaySecret.existingSecret | default (include "portico.objectName" (dict "root" . "suffix" "gateway")) }}
{{- end }}

{{- define "portico.gatewaySecretEnv" -}}
- name: PORTICO_GATEWAY_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "portico.gatewaySecretName" . }}
      key: PORTICO_GATEWAY_SECRET
{{- end }}

{{/* --- NetworkPolicy pieces ------------------------------------------------------------------
Every selector names the release (app.kubernetes.io/instance) as well as the role
(portico.dev/role), so two releases in one namespace never admit each other's pods. */}}

{{/* The pods of one role of this release: (dict "root" $ "role" "relay") */}}
{{- define "portico.rolePods" -}}
podSelector:
  matchLabels:
    app.kubernetes.io/instance: {{ .root.Release.Name }}
    portico.dev/role: {{ .role }}
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
    - {{- include "portico.rolePods" (dict "root" . "role" "postgres") | nindent 6 }}
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
{{- define "portico.egress.dependencies" -}}
{{- with .Values.networkPolicy.dependencyEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "portico.egress.redis" -}}
{{- if .Values.redis.enabled }}
- ports:
    - {port: 6379, protocol: TCP}
  to:
    - {{- include "portico.rolePods" (dict "root" . "role" "redis") | nindent 6 }}
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

{{/* --- Tracing (tracing.*) -------------------------------------------------------------------
Off unless tracing.enabled: then every Portico container but the migrations gets the OTEL_*
variables portico/tracing.py and the OpenTelemetry SDK read, Kong gets the opentelemetry plugin
(kong-configmap.yaml) and the settings without which it makes no span, and the NetworkPolicies
add tracing.egress. */}}

{{/* The collector's base URL; tracing.enabled without one is refused. */}}
{{- define "portico.tracing.endpoint" -}}
{{- required "tracing.enabled=true needs tracing.otlpEndpoint (your collector's OTLP/HTTP base URL, e.g. http://otel-collector.observability:4318)" .Values.tracing.otlpEndpoint | trimSuffix "/" }}
{{- end }}

{{/* Kong's sampling rate: the ratio, or all / none for an always_on / always_off sampler. */}}
{{- define "portico.tracing.kongSamplingRate" -}}
{{- $sampler := .Values.tracing.sampler }}
{{- if hasSuffix "always_on" $sampler }}1{{ else if hasSuffix "always_off" $sampler }}0{{ else }}{{ .Values.tracing.ratio }}{{ end }}
{{- end }}

{{/* The resource attributes of every span: tracing.resourceAttributes and the namespace. */}}
{{- define "portico.tracing.resourceAttributes" -}}
{{- $attributes := dict }}
{{- range $key, $value := .Values.tracing.resourceAttributes }}
{{- $_ := set $attributes $key $value }}
{{- end }}
{{- $_ := set $attributes "k8s.namespace.name" .Release.Namespace }}
{{- toJson $attributes }}
{{- end }}

{{/* What every Portico process but the migrations gets (nothing while tracing is off). The
processes set service.name (the function, worker or relay) and service.namespace themselves. */}}
{{- define "portico.tracingEnv" -}}
{{- if .Values.tracing.enabled }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ include "portico.tracing.endpoint" . | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .Values.tracing.sampler | quote }}
{{- if hasSuffix "traceidratio" .Values.tracing.sampler }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .Values.tracing.ratio | quote }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ include "portico.tracing.resourceAttributes" . | fromJson | include "portico.tracing.pairs" | quote }}
{{- with .Values.tracing.headersSecret.name }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.tracing.headersSecret.key }}
{{- end }}
{{- end }}
{{- end }}

{{/* A map as OTEL_RESOURCE_ATTRIBUTES writes it: key=value,... (by key). */}}
{{- define "portico.tracing.pairs" -}}
{{- $pairs := list }}
{{- range $key, $value := . }}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* Kong's opentelemetry plugin, global (Kong 3.9's kong/plugins/opentelemetry/schema.lua):
spans to <otlpEndpoint>/v1/traces, the client's context continued in the formats of
tracing.kongExtract, and a W3C traceparent naming Kong's span sent to the function. A header
from tracing.headersSecret.kongHeaders is a reference to Kong's env vault (the variable
PORTICO_OTLP_HEADER_<n> of the Kong container), so its value never enters the ConfigMap. */}}
{{- define "portico.kong.opentelemetry" -}}
{{- $attributes := include "portico.tracing.resourceAttributes" . | fromJson }}
{{- $_ := set $attributes "service.name" "kong" }}
{{- $_ := set $attributes "service.namespace" "portico" }}
{{- $config := dict
  "traces_endpoint" (printf "%s/v1/traces" (include "portico.tracing.endpoint" .))
  "resource_attributes" $attributes
  "sampling_rate" (include "portico.tracing.kongSamplingRate" . | float64)
  "propagation" (dict "extract" .Values.tracing.kongExtract "inject" (list "w3c") "default_format" "w3c") }}
{{- with .Values.tracing.headersSecret.kongHeaders }}
{{- $headers := dict }}
{{- range $index, $entry := . }}
{{- $_ := set $headers $entry.header (printf "{vault://env/portico-otlp-header-%d}" $index) }}
{{- end }}
{{- $_ := set $config "headers" $headers }}
{{- end }}
{{- toYaml (dict "name" "opentelemetry" "config" $config) }}
{{- end }}

{{/* The Kong container's part (nothing while tracing is off): Kong makes no span unless
tracing_instrumentations names some, and reads each kongHeaders value from its variable. */}}
{{- define "portico.kong.tracingEnv" -}}
{{- if .Values.tracing.enabled }}
- {name: KONG_TRACING_INSTRUMENTATIONS, value: {{ .Values.tracing.kongInstrumentations | quote }}}
- {name: KONG_TRACING_SAMPLING_RATE, value: {{ include "portico.tracing.kongSamplingRate" . | quote }}}
{{- range $index, $entry := .Values.tracing.headersSecret.kongHeaders }}
- name: PORTICO_OTLP_HEADER_{{ $index }}
  valueFrom:
    secretKeyRef:
      name: {{ required "tracing.headersSecret.kongHeaders needs tracing.headersSecret.name (the Secret holding their values)" $.Values.tracing.headersSecret.name }}
      key: {{ $entry.key }}
{{- end }}
{{- end }}
{{- end }}

{{/* Egress to the collector (tracing.egress), while tracing is on. */}}
{{- define "portico.egress.tracing" -}}
{{- if .Values.tracing.enabled }}
{{- with .Values.tracing.egress }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end }}
