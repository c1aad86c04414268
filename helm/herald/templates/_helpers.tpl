{{/* Names and labels. The Dapr app ids (web, notifier) and component names are fixed: the
code and the component scopes use them (services/core/src/platform/dapr-components.ts). */}}
{{- define "herald.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "herald.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: herald
{{- end -}}

{{/* Selector labels of one service: include with (dict "root" $ "component" "web"). */}}
{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "herald.componentLabels" -}}
{{ include "herald.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "herald.image" -}}
{{- $repo := .svc.image.repository -}}
{{- if .root.Values.image.registry -}}{{- $repo = printf "%s/%s" .root.Values.image.registry $repo -}}{{- end -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{- define "herald.configName" -}}{{ include "herald.fullname" . }}{{- end -}}

{{/* The Dapr secretKeyRef of a component field from {name,key}; Dapr's built-in
"kubernetes" secret store resolves it (auth.secretStore on the Component). */}}
{{- define "herald.secretMeta" -}}
- name: {{ .field }}
  secretKeyRef:
    name: {{ .ref.name }}
    key: {{ .ref.key }}
{{- end -}}

{{/* Settings from existing Secrets, common to both apps. */}}
{{- define "herald.secretEnv" -}}
{{- with .Values.secrets.eventstoreUrl }}
- name: EVENTSTORE_URL
  valueFrom:
    secretKeyRef: { name: {{ .name }}, key: {{ .key }} }
{{- end }}
{{- if .Values.secrets.smtpUrl.name }}
- name: SMTP_URL
  valueFrom:
    secretKeyRef: { name: {{ .Values.secrets.smtpUrl.name }}, key: {{ .Values.secrets.smtpUrl.key }} }
{{- end }}
{{- if .Values.secrets.unsubscribeSecret.name }}
- name: HERALD_UNSUBSCRIBE_SECRET
  valueFrom:
    secretKeyRef: { name: {{ .Values.secrets.unsubscribeSecret.name }}, key: {{ .Values.secrets.unsubscribeSecret.key }} }
{{- end }}
{{- if .Values.secrets.blobConnectionString.name }}
- name: AZURE_STORAGE_CONNECTION_STRING
  valueFrom:
    secretKeyRef: { name: {{ .Values.secrets.blobConnectionString.name }}, key: {{ .Values.secrets.blobConnectionString.key }} }
{{- end }}
{{- end -}}

{{/* Dapr sidecar annotations both apps share. */}}
{{- define "herald.daprAnnotations" -}}
dapr.io/enabled: "true"
dapr.io/config: {{ include "herald.configName" . }}
dapr.io/log-level: {{ .Values.dapr.logLevel }}
dapr.io/log-as-json: "true"
dapr.io/enable-metrics: "true"
dapr.io/metrics-port: "9090"
dapr.io/sidecar-cpu-request: {{ .Values.dapr.sidecar.cpuRequest | quote }}
dapr.io/sidecar-memory-request: {{ .Values.dapr.sidecar.memoryRequest | quote }}
dapr.io/sidecar-memory-limit: {{ .Values.dapr.sidecar.memoryLimit | quote }}
dapr.io/sidecar-seccomp-profile-type: RuntimeDefault
{{- end -}}

{{/* Volumes and pod-level settings both apps share. */}}
{{- define "herald.podCommon" -}}
{{- with .root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: 30
{{- with .svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      medium: Memory
      sizeLimit: 64Mi
  - name: data
    emptyDir:
      sizeLimit: {{ .svc.dataSizeLimit }}
  {{- if .root.Values.secrets.seed.name }}
  - name: seed
    secret:
      secretName: {{ .root.Values.secrets.seed.name }}
      items:
        - key: {{ .root.Values.secrets.seed.key }}
          path: seed.json
  {{- end }}
{{- end -}}

{{- define "herald.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: data
    mountPath: /data
  {{- if .Values.secrets.seed.name }}
  - name: seed
    mountPath: /etc/herald
    readOnly: true
  {{- end }}
{{- end -}}

{{/* Account fields of every Azure Storage component. */}}
{{- define "herald.azureAccount" -}}
- name: accountName
  value: {{ .azure.storageAccount | quote }}
{{- if .azure.accountKeySecret.name }}
{{ include "herald.secretMeta" (dict "field" "accountKey" "ref" .azure.accountKeySecret) }}
{{- end }}
{{- end -}}
{{- define "herald.azureAuth" -}}
{{- if .azure.accountKeySecret.name }}
auth:
  secretStore: kubernetes
{{- end }}
{{- end -}}
