{{/*
Names and labels shared by every template.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "cortex-events-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name of every object: fullnameOverride, else the release name when it already
contains the chart name, else "<release>-<chart>". Truncated to 63 characters (DNS label).
*/}}
{{- define "cortex-events-operator.fullname" -}}
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

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "cortex-events-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator Pod; never change them after a release (selectors are immutable). */}}
{{- define "cortex-events-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cortex-events-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The standard labels on every object the chart creates. */}}
{{- define "cortex-events-operator.labels" -}}
helm.sh/chart: {{ include "cortex-events-operator.chart" . }}
{{ include "cortex-events-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cortex-events-operator
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "cortex-events-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cortex-events-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "cortex-events-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The Secret that holds the API key, or "" in dry-run mode without a key. Fails the install with
a message that says what to set when no key source, or two of them, are configured.
*/}}
{{- define "cortex-events-operator.apiKeySecretName" -}}
{{- if and .Values.apiKey.existingSecret .Values.apiKey.value }}
{{- fail "cortex-events-operator: set only one of apiKey.existingSecret and apiKey.value, not both" }}
{{- else if .Values.apiKey.existingSecret }}
{{- .Values.apiKey.existingSecret }}
{{- else if .Values.apiKey.value }}
{{- printf "%s-api-key" (include "cortex-events-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else if not .Values.dryRun }}
{{- fail "cortex-events-operator: no Cortex API key configured. Create a Secret with the key (kubectl create secret generic cortex-events --from-literal=api-key=<key>) and set apiKey.existingSecret=cortex-events, or set apiKey.value, or set dryRun=true to send nothing" }}
{{- end }}
{{- end }}

{{/*
What the operator and the `helm test` Pod share to reach Cortex: the env naming the key's file
and the CA bundle, their volumes and their mounts. Each takes the root context.
*/}}
{{- define "cortex-events-operator.cortexEnv" -}}
{{- $secretName := include "cortex-events-operator.apiKeySecretName" . }}
- name: CORTEX_BASE_URL
  value: {{ .Values.baseUrl | quote }}
- name: CORTEX_ALLOW_HTTP
  value: {{ .Values.allowHttp | toString | quote }}
{{- if or .Values.caBundle.configMap .Values.caBundle.secret }}
- name: CORTEX_CA_BUNDLE
  value: /etc/cortex-events/ca/{{ .Values.caBundle.key }}
{{- end }}
{{- if $secretName }}
# The key is a file, not a variable: it is in no process environment, and the operator (and
# `cortex-events check`) reads it again when it changes.
- name: CORTEX_API_KEY_FILE
  value: /var/run/secrets/cortex-events/api-key
{{- end }}
{{- end }}

{{- define "cortex-events-operator.cortexMounts" -}}
{{- if include "cortex-events-operator.apiKeySecretName" . }}
# The whole folder, not a subPath: the kubelet updates it when the Secret changes.
- name: api-key
  mountPath: /var/run/secrets/cortex-events
  readOnly: true
{{- end }}
{{- if or .Values.caBundle.configMap .Values.caBundle.secret }}
- name: ca-bundle
  mountPath: /etc/cortex-events/ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "cortex-events-operator.cortexVolumes" -}}
{{- $secretName := include "cortex-events-operator.apiKeySecretName" . }}
{{- if $secretName }}
- name: api-key
  secret:
    secretName: {{ $secretName }}
    defaultMode: 0440
    items:
      - key: {{ .Values.apiKey.secretKey }}
        path: api-key
{{- end }}
{{- if .Values.caBundle.configMap }}
- name: ca-bundle
  configMap:
    name: {{ .Values.caBundle.configMap }}
    items:
      - key: {{ .Values.caBundle.key }}
        path: {{ .Values.caBundle.key }}
{{- else if .Values.caBundle.secret }}
- name: ca-bundle
  secret:
    secretName: {{ .Values.caBundle.secret }}
    items:
      - key: {{ .Values.caBundle.key }}
        path: {{ .Values.caBundle.key }}
{{- end }}
{{- end }}
