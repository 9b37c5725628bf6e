{{/*
Labels. The objects carry the labels kustomize gives them in deploy/ (`app.kubernetes.io/name`
in each file, `app.kubernetes.io/part-of` from the kustomization's `labels:`), no more: an
install moved from `kubectl apply -k` to this chart changes no object, and no selector (they
are immutable).
*/}}
{{- define "breakglass.labels" -}}
app.kubernetes.io/name: breakglass
app.kubernetes.io/part-of: breakglass
{{- end }}

{{- define "breakglass.selectorLabels" -}}
app.kubernetes.io/name: breakglass
{{- end }}

{{/* PostgreSQL journal: the StatefulSet of deploy/overlays/replicas instead of the Deployment. */}}
{{- define "breakglass.stateful" -}}
{{- if .Values.journal.url }}true{{ end }}
{{- end }}

{{- define "breakglass.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
The settings file (breakglass.yaml), from the values; the same settings as
deploy/base/breakglass.yaml with the defaults. Keys are written in that file's order.
*/}}
{{- define "breakglass.settings" -}}
{{- $v := .Values -}}
{{- $reserved := list "cluster" "forges" "repos" "users" "backfill" "scan" "journal" "state_dir" "listen" "tls" "metrics" "actors" -}}
{{- range $key, $_ := $v.extraSettings }}
{{- if has $key $reserved }}
{{- fail (printf "extraSettings.%s: not here; %s" $key (ternary "set it with the chart's own value of that name" "the chart sets it (the pod or the webhook configuration depends on it)" (has $key (list "cluster" "forges" "repos" "users" "backfill" "scan")))) }}
{{- end }}
{{- end }}
{{- $journal := "sqlite:////var/lib/breakglass/journal.db" -}}
{{- if $v.journal.url }}{{ $journal = $v.journal.url }}{{ end -}}
{{- $settings := dict
  "cluster" $v.cluster
  "state_dir" "/var/lib/breakglass"
  "listen" (dict "host" "0.0.0.0" "port" 8443)
  "tls" (dict "cert_file" "/etc/breakglass/tls/tls.crt" "key_file" "/etc/breakglass/tls/tls.key")
  "journal" $journal
  "audit_webhook" (dict "enabled" true "token_env" "BREAKGLASS_AUDIT_TOKEN")
  "admission" (dict "mode" "observe")
  "actors" (dict "ignore" (dict "users" (list "system:*") "groups" (list "system:nodes" "system:serviceaccounts:kube-system")))
  "redaction" (dict "salt_env" "BREAKGLASS_REDACTION_SALT")
  "audit_log" (dict "dir" "/var/lib/breakglass/audit" "key_env" "BREAKGLASS_AUDIT_LOG_KEY")
  "metrics" (dict "listen" (dict "host" "0.0.0.0" "port" 9090) "worker_listen" (dict "host" "0.0.0.0" "port" 9091))
  "logging" (dict "level" "info" "format" "json")
  "kube" (dict "mode" "in-cluster" "argocd_namespace" "argocd")
  "backfill" (merge (deepCopy $v.backfill) (dict "mirrors_dir" "/tmp/mirrors"))
  "forges" $v.forges
-}}
{{- with $v.repos }}{{ $_ := set $settings "repos" . }}{{ end -}}
{{- with $v.users }}{{ $_ := set $settings "users" . }}{{ end -}}
{{- $scan := dict -}}
{{- range $key, $value := omit $v.scan "rbac" }}
{{- if or (kindIs "bool" $value) (kindIs "float64" $value) (kindIs "int64" $value) $value }}{{ $_ := set $scan $key $value }}{{ end }}
{{- end }}
{{- with $scan }}{{ $_ := set $settings "scan" . }}{{ end -}}
{{- $settings = mergeOverwrite $settings (deepCopy $v.extraSettings) -}}
{{- $order := list "cluster" "state_dir" "listen" "tls" "journal" "audit_webhook" "admission" "actors" "redaction" "audit_log" "metrics" "logging" "kube" "backfill" "forges" "repos" "users" "scan" -}}
# breakglass settings, rendered by the Helm chart (deploy/helm/breakglass) from its values.
# Secrets never go here: `*_env` keys name variables that the Secret `{{ $v.secretName }}`
# provides. Reference: README.md, "Configuration".
{{- range $order }}
{{- if hasKey $settings . }}
{{ dict . (get $settings .) | toYaml }}
{{- end }}
{{- end }}
{{- range $key, $value := $settings }}
{{- if not (has $key $order) }}
{{ dict $key $value | toYaml }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ConfigMap's name: a hash of its content, so that a settings change rolls the pods. */}}
{{- define "breakglass.configName" -}}
breakglass-config-{{ include "breakglass.settings" . | sha256sum | trunc 10 }}
{{- end }}

{{/*
A secretKeyRef environment variable: (list NAME SECRET KEY OPTIONAL).
*/}}
{{- define "breakglass.secretEnv" -}}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ index . 1 }}
      key: {{ index . 2 }}
      optional: {{ index . 3 }}
{{- end }}

{{/*
The pod template: deploy/base/deployment.yaml's, or with a PostgreSQL journal
deploy/overlays/replicas/statefulset.yaml's (the journal password, and the salt and audit-log key
required in both containers; no shared state volume; anti-affinity).
*/}}
{{- define "breakglass.podTemplate" -}}
{{- $stateful := include "breakglass.stateful" . -}}
{{- $secret := .Values.secretName -}}
{{- $journalSecret := .Values.journal.passwordSecret.name | default $secret -}}
{{- $optional := ternary "false" "true" (eq $stateful "true") -}}
metadata:
  labels:
    app.kubernetes.io/name: breakglass
    app.kubernetes.io/component: webhook
  annotations:
    kubectl.kubernetes.io/default-container: breakglass
spec:
  serviceAccountName: breakglass
  automountServiceAccountToken: true
  enableServiceLinks: false
  terminationGracePeriodSeconds: 30
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    fsGroupChangePolicy: OnRootMismatch
    seccompProfile:
      type: RuntimeDefault
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.affinity }}
  affinity:
    {{- toYaml .Values.affinity | nindent 4 }}
  {{- else if $stateful }}
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "breakglass.selectorLabels" . | nindent 16 }}
  {{- end }}
  containers:
    - name: breakglass
      image: {{ include "breakglass.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: [serve, --worker, none, --config, /etc/breakglass/config/breakglass.yaml]
      env:
        {{- include "breakglass.secretEnv" (list "BREAKGLASS_AUDIT_TOKEN" $secret "BREAKGLASS_AUDIT_TOKEN" "true") | nindent 8 }}
        {{- include "breakglass.secretEnv" (list "BREAKGLASS_AUDIT_LOG_KEY" $secret "BREAKGLASS_AUDIT_LOG_KEY" $optional) | nindent 8 }}
        {{- include "breakglass.secretEnv" (list "BREAKGLASS_REDACTION_SALT" $secret "BREAKGLASS_REDACTION_SALT" $optional) | nindent 8 }}
        {{- if $stateful }}
        {{- include "breakglass.secretEnv" (list "BREAKGLASS_JOURNAL_PASSWORD" $journalSecret .Values.journal.passwordSecret.key "false") | nindent 8 }}
        {{- end }}
        {{- with .Values.webhook.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: https
          containerPort: 8443
          protocol: TCP
        - name: metrics
          containerPort: 9090
          protocol: TCP
      startupProbe:
        httpGet: {path: /healthz, port: https, scheme: HTTPS}
        periodSeconds: 2
        failureThreshold: 30
      livenessProbe:
        httpGet: {path: /healthz, port: https, scheme: HTTPS}
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      readinessProbe:
        httpGet: {path: /readyz, port: https, scheme: HTTPS}
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 2
      {{- with .Values.webhook.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        privileged: false
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: config
          mountPath: /etc/breakglass/config
          readOnly: true
        - name: tls
          mountPath: /etc/breakglass/tls
          readOnly: true
        - name: state
          mountPath: /var/lib/breakglass
        - name: webhook-tmp
          mountPath: /tmp
    - name: worker
      image: {{ include "breakglass.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: [worker, --config, /etc/breakglass/config/breakglass.yaml]
      envFrom:
        - secretRef:
            name: {{ $secret }}
      env:
        - name: HOME
          value: /tmp
        {{- if $stateful }}
        {{- include "breakglass.secretEnv" (list "BREAKGLASS_JOURNAL_PASSWORD" $journalSecret .Values.journal.passwordSecret.key "false") | nindent 8 }}
        {{- include "breakglass.secretEnv" (list "BREAKGLASS_REDACTION_SALT" $secret "BREAKGLASS_REDACTION_SALT" "false") | nindent 8 }}
        {{- include "breakglass.secretEnv" (list "BREAKGLASS_AUDIT_LOG_KEY" $secret "BREAKGLASS_AUDIT_LOG_KEY" "false") | nindent 8 }}
        {{- end }}
        {{- with .Values.worker.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: worker-metrics
          containerPort: 9091
          protocol: TCP
      startupProbe:
        httpGet: {path: /healthz, port: worker-metrics, scheme: HTTP}
        periodSeconds: 2
        failureThreshold: 30
      livenessProbe:
        httpGet: {path: /healthz, port: worker-metrics, scheme: HTTP}
        periodSeconds: 20
        timeoutSeconds: 10
        failureThreshold: 3
      {{- with .Values.worker.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        privileged: false
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: config
          mountPath: /etc/breakglass/config
          readOnly: true
        - name: tls
          mountPath: /etc/breakglass/tls
          readOnly: true
        - name: state
          mountPath: /var/lib/breakglass
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "breakglass.configName" . }}
    - name: tls
      secret:
        secretName: breakglass-tls
    {{- if not $stateful }}
    - name: state
      persistentVolumeClaim:
        claimName: breakglass-state
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ .Values.worker.tmpSizeLimit }}
    - name: webhook-tmp
      emptyDir:
        sizeLimit: 64Mi
{{- end }}

{{/*
The self-signed CA and serving certificate (certManager.enabled false, selfSigned.caBundle
empty), as base64 strings {ca, crt, key}: read back from the Secret breakglass-tls when it is in
the cluster (so an upgrade keeps them, and the webhook's caBundle with them; also the Secret of
deploy/overlays/self-signed, when a kustomize install is moved to the chart), generated
otherwise (a first install, `helm template`, or a Secret cert-manager made). ECDSA P-256, like `breakglass manifests self-signed`, for the same names.
*/}}
{{- define "breakglass.selfSignedTLS" -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace "breakglass-tls" -}}
{{- $data := dict -}}
{{- if $existing }}
{{- /* Not cert-manager's (certManager.enabled was true): nothing would renew that one. */ -}}
{{- if not (hasKey ($existing.metadata.annotations | default dict) "cert-manager.io/certificate-name") }}
{{- $data = $existing.data | default dict }}
{{- end }}
{{- end -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
ca: {{ index $data "ca.crt" }}
crt: {{ index $data "tls.crt" }}
key: {{ index $data "tls.key" }}
{{- else -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list (printf "breakglass.%s.svc" $ns) (printf "breakglass.%s.svc.cluster.local" $ns) (printf "breakglass.%s" $ns) "breakglass" -}}
{{- $days := int .Values.selfSigned.days -}}
{{- $ca := genCAWithKey "breakglass webhook CA" $days (genPrivateKey "ecdsa") -}}
{{- $cert := genSignedCertWithKey (first $hosts) nil $hosts $days $ca (genPrivateKey "ecdsa") -}}
ca: {{ $ca.Cert | b64enc }}
crt: {{ $cert.Cert | b64enc }}
key: {{ $cert.Key | b64enc }}
{{- end -}}
{{- end }}
