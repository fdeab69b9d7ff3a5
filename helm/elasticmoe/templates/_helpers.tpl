{{- define "elasticmoe.name" -}}elasticmoe-operator{{- end -}}
{{- define "elasticmoe.labels" -}}
app.kubernetes.io/name: {{ include "elasticmoe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "elasticmoe.selector" -}}
app.kubernetes.io/name: {{ include "elasticmoe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
