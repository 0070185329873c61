{{/* Names and labels shared by every template. */}}

{{- define "sovereign-stack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; objects are named after it (63 characters: a label value). */}}
{{- define "sovereign-stack.fullname" -}}
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

{{- define "sovereign-stack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sovereign-stack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sovereign-stack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "sovereign-stack.labels" -}}
helm.sh/chart: {{ include "sovereign-stack.chart" . }}
{{ include "sovereign-stack.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sovereign-stack
{{- end }}

{{- define "sovereign-stack.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sovereign-stack.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* ClusterRoles and their bindings are cluster-wide: the namespace keeps two releases apart. */}}
{{- define "sovereign-stack.clusterRoleName" -}}
{{- printf "%s-%s" .Release.Namespace (include "sovereign-stack.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sovereign-stack.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}
