{{- define "lathe.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lathe.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "lathe.secretName" -}}
{{- default (printf "%s-secrets" (include "lathe.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "lathe.claimName" -}}
{{- default (printf "%s-adapters" (include "lathe.fullname" .)) .Values.storage.existingClaim -}}
{{- end -}}

{{/* The container both roles run; call with (dict "ctx" . "role" "api"|"worker"). */}}
{{- define "lathe.container" -}}
- name: {{ .role }}
  image: "{{ .ctx.Values.image.repository }}:{{ .ctx.Values.image.tag }}"
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  env:
    - name: LATHE_ROLE
      value: {{ .role }}
  envFrom:
    - configMapRef:
        name: {{ include "lathe.fullname" .ctx }}-config
    - secretRef:
        name: {{ include "lathe.secretName" .ctx }}
  ports:
    - name: http
      containerPort: 8080
  startupProbe:
    httpGet:
      path: /actuator/health/liveness
      port: http
    periodSeconds: 5
    failureThreshold: 60
  livenessProbe:
    httpGet:
      path: /actuator/health/liveness
      port: http
    periodSeconds: 10
  readinessProbe:
    httpGet:
      path: /actuator/health/readiness
      port: http
    periodSeconds: 5
  volumeMounts:
    - name: adapters
      mountPath: /var/lib/lathe
  securityContext:
    allowPrivilegeEscalation: false
    capabilities:
      drop: ["ALL"]
{{- end -}}
