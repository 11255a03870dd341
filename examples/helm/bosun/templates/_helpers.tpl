{{/* Names and labels shared by the chart's objects. */}}
{{- define "bosun.fullname" -}}
{{- printf "%s-bosun" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bosun.labels" -}}
app.kubernetes.io/name: bosun
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "bosun.secretName" -}}
{{- default (printf "%s-secrets" (include "bosun.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{/* The pod security context both roles share: the images' non-root user. */}}
{{- define "bosun.podSecurity" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}
