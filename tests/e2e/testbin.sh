#!/usr/bin/env bash
# Build real test binaries from their published Go modules and keep them in a
# versioned cache directory: kube-apiserver, kubectl and etcd for the
# end-to-end tests, sops and age-keygen for the tests of SOPS-encrypted Secrets,
# kustomize and helm for the tests of rendering what a GitOps branch deploys,
# and Flux's source-controller and kustomize-controller (with their CRDs) for
# the tests against a real GitOps controller, Prometheus's promtool for the
# tests of the alerting rules and dashboard in deploy/monitoring, and OpenTofu
# and Terraform with the hashicorp/kubernetes provider (in a filesystem mirror)
# for the tests of OpenTofu/Terraform drift.
#
# Usage:
#   eval "$(tests/e2e/testbin.sh)"
#   "$KUBE_APISERVER" --version
#   "$AGE_KEYGEN" -o key.txt && SOPS_AGE_KEY_FILE=key.txt "$SOPS" --decrypt secret.yaml
#   "$KUSTOMIZE" build overlays/prod && "$HELM" template my-release charts/app
#   "$KUBECTL" apply --server-side -f "$FLUX_CRDS" && "$FLUX_SOURCE_CONTROLLER" --help
#   "$PROMTOOL" check rules rules.yaml && "$PROMTOOL" test rules alerts.test.yaml
#   TF_CLI_CONFIG_FILE=cli.tfrc "$TOFU" init   # cli.tfrc: a filesystem_mirror at $TOFU_PROVIDER_MIRROR
#   TF_CLI_CONFIG_FILE=cli.tfrc "$TERRAFORM" init   # the same mirror serves Terraform
#
# Environment:
#   BREAKGLASS_TESTBIN_DIR    cache root   (default: $HOME/.cache/breakglass/testbin)
#   BREAKGLASS_K8S_VERSION    Kubernetes   (default: v1.36.3)
#   BREAKGLASS_ETCD_VERSION   etcd         (default: v3.6.16)
#   BREAKGLASS_SOPS_VERSION   sops         (default: v3.13.3)
#   BREAKGLASS_AGE_VERSION    age-keygen   (default: v1.3.1)
#   BREAKGLASS_KUSTOMIZE_VERSION kustomize (default: v5.8.2)
#   BREAKGLASS_HELM_VERSION   helm         (default: v3.21.4)
#   BREAKGLASS_FLUX_SOURCE_VERSION    source-controller    (default: v1.9.6)
#   BREAKGLASS_FLUX_KUSTOMIZE_VERSION kustomize-controller (default: v1.9.6)
#   BREAKGLASS_PROMETHEUS_VERSION     promtool             (default: v0.316.0,
#                                     the Go module version of Prometheus 3.16.0)
#   BREAKGLASS_OPENTOFU_VERSION       tofu                 (default: v1.12.6)
#   BREAKGLASS_TF_KUBERNETES_VERSION  hashicorp/kubernetes provider (default: v1.13.4)
#   BREAKGLASS_TERRAFORM_VERSION      terraform            (default: v1.5.7, the last
#                                     release under the MPL-2.0; later ones are BUSL-1.1)
#
# Layout:
#   <root>/k8s-<version>/{kube-apiserver,kubectl,.complete}
#   <root>/etcd-<version>/{etcd,.complete}
#   <root>/sops-<version>/{sops,age-keygen,.age-version,.complete}
#   <root>/kustomize-<version>/{kustomize,.complete}
#   <root>/helm-<version>/{helm,.complete}
#   <root>/flux-<sc-version>-<kc-version>/{source-controller,kustomize-controller,
#                                         crds/*.yaml,.complete}
#   <root>/prometheus-<version>/{promtool,.complete}
#   <root>/opentofu-<version>/{tofu,.complete}
#   <root>/tf-kubernetes-<version>/{mirror/registry.opentofu.org/hashicorp/kubernetes/
#                                   <version>/<os>_<arch>/terraform-provider-kubernetes_v<version>,
#                                   the same under mirror/registry.terraform.io/..., .complete}
#   <root>/terraform-<version>/{terraform,.complete}
#
# The sops directory is named after the sops version only; .age-version records
# the age version its age-keygen was built from, and a directory whose
# .age-version differs from BREAKGLASS_AGE_VERSION is rebuilt.
#
# kustomize and helm are built like the release binaries: `go install` of the
# module with its own go.mod. Both pinned versions build with Go 1.26 (kustomize
# v5.8.3 and later ask for Go 1.27; v5.8.2 is the newest that does not).
# helm gets the version and Kubernetes-version ldflags of helm's Makefile, so
# `helm version` names the release and .Capabilities.KubeVersion in templates
# is the Kubernetes minor helm was built against, not helm's fallback v1.20.
#
# The Flux controllers cannot be `go install`ed: their go.mod replaces their own
# api module with ./api, a directory that is a separate module and not part of
# the published zip. Each is downloaded (`go mod download`), copied to a scratch
# directory, its ./ replace directives pointed at the downloaded api module of
# the version its go.mod requires, and built there with `go build` like the
# release Dockerfile (CGO off, -trimpath). crds/ holds config/crd/bases/*.yaml
# of both controller modules (the api modules carry none): GitRepository,
# OCIRepository, HelmRepository, HelmChart, Bucket, ExternalArtifact and
# Kustomization.
#
# Why v1.9.6 and not v1.10.x: the module proxy serves the v1.10.x controllers,
# but not three modules they need (github.com/fluxcd/pkg/apis/crypto, .../spiffe
# and .../masktoken v0.10.0: no version listed, the zip refused), so they cannot
# be built here; v1.10.x also asks for Go 1.27 (GOTOOLCHAIN=go1.27.3 where its
# modules are served). v1.9.6 builds with Go 1.26. kustomize-controller v1.9.6
# builds from its own go.mod unchanged; source-controller v1.9.6 needs
# github.com/fluxcd/pkg/artifact v0.18.3, which the proxy refuses, so it is
# built with v0.18.0, the nearest version served (same minor). Such pins live in
# flux_dependency_pins, keyed by release, so a cache directory's name still
# says exactly what it holds.
#
# promtool comes from github.com/prometheus/prometheus, whose Go module is not
# versioned like the releases: Prometheus 3.Y.Z is published as v0.3YY.Z
# (v0.316.0 is 3.16.0), and only those 3.x versions are accepted here. Its
# go.mod has no replace directives, so it is a plain `go install` of
# ./cmd/promtool (Go 1.26 is enough for v0.316.0), with the release's netgo
# tag and the version ldflags of its .promu.yml, so `promtool --version` names
# the release (3.16.0) and the module's date; the module proxy does not know
# the commit, so it reports "revision: unknown".
#
# OpenTofu cannot be `go install`ed either: its go.mod replaces
# github.com/hashicorp/hcl/v2 with OpenTofu's fork. It is built from a copy of
# the downloaded module (its go.mod then is the main module's, so the replace
# applies) with the release's ldflag version.dev=no, so `tofu version` says
# v1.12.6 and not v1.12.6-dev. v1.12.6 builds with Go 1.26.
#
# The provider is hashicorp/kubernetes v1.13.4, the newest version the module
# proxy serves (its 2.x tags are not valid Go module versions: no /v2 suffix).
# It manages Kubernetes objects with typed attributes (a ConfigMap's data, a
# Deployment's replicas), so a kubectl change to an object OpenTofu manages is
# attribute drift that `tofu plan -refresh-only` reports. Built from a copy of
# the module with -mod=mod and one replace: k8s.io/kubectl v0.19.1 requires
# vbom.ml/util, a domain that no longer serves it; the same code is published
# as github.com/fvbommel/util at the same commit. The binary is laid out as an
# unpacked filesystem mirror for `provider_installation { filesystem_mirror }`,
# under both registry hosts (OpenTofu's and Terraform's default source address).
#
# Terraform is a plain `go install` of github.com/hashicorp/terraform at v1.5.7
# (no replace directives; its module carries the release version).
#
# stdout carries only shell assignments (KUBE_APISERVER=..., KUBECTL=...,
# ETCD=..., SOPS=..., AGE_KEYGEN=..., KUSTOMIZE=..., HELM=...,
# FLUX_SOURCE_CONTROLLER=..., FLUX_KUSTOMIZE_CONTROLLER=..., FLUX_CRDS=... (the
# crds directory), PROMTOOL=..., TOFU=..., TOFU_PROVIDER_MIRROR=..., TERRAFORM=...,
# plus the ten directories) so callers can
# eval it; all progress goes to stderr. A directory only counts as cached when
# its .complete stamp exists; builds happen in a
# scratch directory next to the final one and are renamed into place, so an
# interrupted build never looks cached. Every directory must be cached for the fast path, which needs no Go.
#
# Exit codes: 0 ok, 2 bad arguments/environment, 3 Go toolchain missing or too old,
# other non-zero: a build step failed.
set -euo pipefail

K8S_VERSION=${BREAKGLASS_K8S_VERSION:-v1.36.3}
ETCD_VERSION=${BREAKGLASS_ETCD_VERSION:-v3.6.16}
SOPS_VERSION=${BREAKGLASS_SOPS_VERSION:-v3.13.3}
AGE_VERSION=${BREAKGLASS_AGE_VERSION:-v1.3.1}
KUSTOMIZE_VERSION=${BREAKGLASS_KUSTOMIZE_VERSION:-v5.8.2}
HELM_VERSION=${BREAKGLASS_HELM_VERSION:-v3.21.4}
FLUX_SC_VERSION=${BREAKGLASS_FLUX_SOURCE_VERSION:-v1.9.6}
FLUX_KC_VERSION=${BREAKGLASS_FLUX_KUSTOMIZE_VERSION:-v1.9.6}
PROMETHEUS_VERSION=${BREAKGLASS_PROMETHEUS_VERSION:-v0.316.0}
OPENTOFU_VERSION=${BREAKGLASS_OPENTOFU_VERSION:-v1.12.6}
TF_KUBERNETES_VERSION=${BREAKGLASS_TF_KUBERNETES_VERSION:-v1.13.4}
TERRAFORM_VERSION=${BREAKGLASS_TERRAFORM_VERSION:-v1.5.7}
CACHE_ROOT=${BREAKGLASS_TESTBIN_DIR:-${HOME:?HOME is not set}/.cache/breakglass/testbin}

MIN_GO_MAJOR=1
MIN_GO_MINOR=25

K8S_DIR=$CACHE_ROOT/k8s-$K8S_VERSION
ETCD_DIR=$CACHE_ROOT/etcd-$ETCD_VERSION
SOPS_DIR=$CACHE_ROOT/sops-$SOPS_VERSION
SOPS_MODULE=github.com/getsops/sops/v3
AGE_MODULE=filippo.io/age
AGE_STAMP=.age-version
KUSTOMIZE_DIR=$CACHE_ROOT/kustomize-$KUSTOMIZE_VERSION
KUSTOMIZE_MODULE=sigs.k8s.io/kustomize/kustomize/v5
HELM_DIR=$CACHE_ROOT/helm-$HELM_VERSION
HELM_MODULE=helm.sh/helm/v3
FLUX_DIR=$CACHE_ROOT/flux-$FLUX_SC_VERSION-$FLUX_KC_VERSION
FLUX_MODULE_PREFIX=github.com/fluxcd
PROMETHEUS_DIR=$CACHE_ROOT/prometheus-$PROMETHEUS_VERSION
PROMETHEUS_MODULE=github.com/prometheus/prometheus
OPENTOFU_DIR=$CACHE_ROOT/opentofu-$OPENTOFU_VERSION
OPENTOFU_MODULE=github.com/opentofu/opentofu
TF_KUBERNETES_DIR=$CACHE_ROOT/tf-kubernetes-$TF_KUBERNETES_VERSION
TF_KUBERNETES_MODULE=github.com/hashicorp/terraform-provider-kubernetes
TF_KUBERNETES_MIRRORED=mirror/registry.opentofu.org/hashicorp/kubernetes/${TF_KUBERNETES_VERSION#v}
TF_KUBERNETES_MIRRORED_TF=mirror/registry.terraform.io/hashicorp/kubernetes/${TF_KUBERNETES_VERSION#v}
TERRAFORM_DIR=$CACHE_ROOT/terraform-$TERRAFORM_VERSION
TERRAFORM_MODULE=github.com/hashicorp/terraform
STAMP=.complete

log() { printf 'testbin: %s\n' "$*" >&2; }
die() {
    local code=$1
    shift
    printf 'testbin: error: %s\n' "$*" >&2
    exit "$code"
}

case "${1:-}" in
"") ;;
-h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
    exit 0
    ;;
*) die 2 "unexpected argument: $1 (configuration is via environment variables; see --help)" ;;
esac

# Versions must look like vMAJOR.MINOR.PATCH[-pre]; they end up in paths and
# module queries, so reject anything else early.
semver_re='^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'
[[ $K8S_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_K8S_VERSION must look like v1.36.3, got '$K8S_VERSION'"
[[ $ETCD_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_ETCD_VERSION must look like v3.6.16, got '$ETCD_VERSION'"
[[ $SOPS_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_SOPS_VERSION must look like v3.13.3, got '$SOPS_VERSION'"
[[ $AGE_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_AGE_VERSION must look like v1.3.1, got '$AGE_VERSION'"
[[ $KUSTOMIZE_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_KUSTOMIZE_VERSION must look like v5.8.2, got '$KUSTOMIZE_VERSION'"
[[ $HELM_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_HELM_VERSION must look like v3.21.4, got '$HELM_VERSION'"
[[ $FLUX_SC_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_FLUX_SOURCE_VERSION must look like v1.9.6, got '$FLUX_SC_VERSION'"
[[ $FLUX_KC_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_FLUX_KUSTOMIZE_VERSION must look like v1.9.6, got '$FLUX_KC_VERSION'"
[[ $PROMETHEUS_VERSION =~ $semver_re ]] || die 2 "BREAKGLASS_PROMETHEUS_VERSION must look like v0.316.0, got '$PROMETHEUS_VERSION'"
[[ $K8S_VERSION == v1.* ]] || die 2 "only Kubernetes 1.x is supported, got '$K8S_VERSION'"
# The module path carries the major version (github.com/getsops/sops/v3).
[[ $SOPS_VERSION == v3.* ]] || die 2 "only sops 3.x is supported, got '$SOPS_VERSION'"
[[ $AGE_VERSION == v1.* ]] || die 2 "only age 1.x is supported, got '$AGE_VERSION'"
# Likewise sigs.k8s.io/kustomize/kustomize/v5 and helm.sh/helm/v3.
[[ $KUSTOMIZE_VERSION == v5.* ]] || die 2 "only kustomize 5.x is supported, got '$KUSTOMIZE_VERSION'"
[[ $HELM_VERSION == v3.* ]] || die 2 "only helm 3.x is supported, got '$HELM_VERSION'"
# github.com/fluxcd/source-controller has no /vN suffix: only v1.x resolves.
[[ $FLUX_SC_VERSION == v1.* ]] || die 2 "only source-controller 1.x is supported, got '$FLUX_SC_VERSION'"
[[ $FLUX_KC_VERSION == v1.* ]] || die 2 "only kustomize-controller 1.x is supported, got '$FLUX_KC_VERSION'"
# Prometheus 3.Y.Z is the module version v0.3YY.Z (no /v3 suffix).
[[ $PROMETHEUS_VERSION =~ ^v0\.3[0-9]{2}\. ]] ||
    die 2 "only Prometheus 3.x (module versions v0.3YY.Z, e.g. v0.316.0 for 3.16.0) is supported, got '$PROMETHEUS_VERSION'"

emit() {
    printf 'KUBE_APISERVER=%q\n' "$K8S_DIR/kube-apiserver"
    printf 'KUBECTL=%q\n' "$K8S_DIR/kubectl"
    printf 'ETCD=%q\n' "$ETCD_DIR/etcd"
    printf 'SOPS=%q\n' "$SOPS_DIR/sops"
    printf 'AGE_KEYGEN=%q\n' "$SOPS_DIR/age-keygen"
    printf 'KUSTOMIZE=%q\n' "$KUSTOMIZE_DIR/kustomize"
    printf 'HELM=%q\n' "$HELM_DIR/helm"
    printf 'FLUX_SOURCE_CONTROLLER=%q\n' "$FLUX_DIR/source-controller"
    printf 'FLUX_KUSTOMIZE_CONTROLLER=%q\n' "$FLUX_DIR/kustomize-controller"
    printf 'FLUX_CRDS=%q\n' "$FLUX_DIR/crds"
    printf 'PROMTOOL=%q\n' "$PROMETHEUS_DIR/promtool"
    printf 'BREAKGLASS_TESTBIN_K8S_DIR=%q\n' "$K8S_DIR"
    printf 'BREAKGLASS_TESTBIN_ETCD_DIR=%q\n' "$ETCD_DIR"
    printf 'BREAKGLASS_TESTBIN_SOPS_DIR=%q\n' "$SOPS_DIR"
    printf 'BREAKGLASS_TESTBIN_KUSTOMIZE_DIR=%q\n' "$KUSTOMIZE_DIR"
    printf 'BREAKGLASS_TESTBIN_HELM_DIR=%q\n' "$HELM_DIR"
    printf 'BREAKGLASS_TESTBIN_FLUX_DIR=%q\n' "$FLUX_DIR"
    printf 'BREAKGLASS_TESTBIN_PROMETHEUS_DIR=%q\n' "$PROMETHEUS_DIR"
    printf 'TOFU=%q\n' "$OPENTOFU_DIR/tofu"
    printf 'TOFU_PROVIDER_MIRROR=%q\n' "$TF_KUBERNETES_DIR/mirror"
    printf 'BREAKGLASS_TESTBIN_OPENTOFU_DIR=%q\n' "$OPENTOFU_DIR"
    printf 'BREAKGLASS_TESTBIN_TF_KUBERNETES_DIR=%q\n' "$TF_KUBERNETES_DIR"
    printf 'TERRAFORM=%q\n' "$TERRAFORM_DIR/terraform"
    printf 'BREAKGLASS_TESTBIN_TERRAFORM_DIR=%q\n' "$TERRAFORM_DIR"
}

# is_cached DIR BIN... : stamp present and every binary executable.
is_cached() {
    local dir=$1 bin
    shift
    [[ -f $dir/$STAMP ]] || return 1
    for bin in "$@"; do
        [[ -x $dir/$bin ]] || return 1
    done
}

k8s_cached() { is_cached "$K8S_DIR" kube-apiserver kubectl; }
etcd_cached() { is_cached "$ETCD_DIR" etcd; }
sops_cached() {
    is_cached "$SOPS_DIR" sops age-keygen || return 1
    [[ -f $SOPS_DIR/$AGE_STAMP && $(<"$SOPS_DIR/$AGE_STAMP") == "$AGE_VERSION" ]]
}
kustomize_cached() { is_cached "$KUSTOMIZE_DIR" kustomize; }
helm_cached() { is_cached "$HELM_DIR" helm; }
flux_cached() {
    is_cached "$FLUX_DIR" source-controller kustomize-controller || return 1
    compgen -G "$FLUX_DIR/crds/*.yaml" >/dev/null
}
prometheus_cached() { is_cached "$PROMETHEUS_DIR" promtool; }
opentofu_cached() { is_cached "$OPENTOFU_DIR" tofu; }
tf_kubernetes_cached() {
    [[ -f $TF_KUBERNETES_DIR/$STAMP ]] &&
        compgen -G "$TF_KUBERNETES_DIR/$TF_KUBERNETES_MIRRORED/*/terraform-provider-kubernetes_*" >/dev/null &&
        compgen -G "$TF_KUBERNETES_DIR/$TF_KUBERNETES_MIRRORED_TF/*/terraform-provider-kubernetes_*" >/dev/null
}
terraform_cached() { is_cached "$TERRAFORM_DIR" terraform; }

# Fast path: nothing to do, and no Go toolchain needed.
if k8s_cached && etcd_cached && sops_cached && kustomize_cached && helm_cached && flux_cached &&
    prometheus_cached && opentofu_cached && tf_kubernetes_cached && terraform_cached; then
    log "cached: $K8S_DIR"
    log "cached: $ETCD_DIR"
    log "cached: $SOPS_DIR"
    log "cached: $KUSTOMIZE_DIR"
    log "cached: $HELM_DIR"
    log "cached: $FLUX_DIR"
    log "cached: $PROMETHEUS_DIR"
    log "cached: $OPENTOFU_DIR"
    log "cached: $TF_KUBERNETES_DIR"
    log "cached: $TERRAFORM_DIR"
    emit
    exit 0
fi

# ---------------------------------------------------------------------------
# Slow path: we need to build something.

require_go() {
    if ! command -v go >/dev/null 2>&1; then
        cat >&2 <<EOF
testbin: error: the 'go' command was not found on PATH.
testbin: Go >= $MIN_GO_MAJOR.$MIN_GO_MINOR is needed to build kube-apiserver, kubectl, etcd, sops,
testbin: age-keygen, kustomize, helm, Flux's controllers and promtool for the tests. Install it from https://go.dev/dl/ (or your
testbin: distribution's golang package if it is recent enough) and make sure 'go'
testbin: is on PATH. Newer toolchains requested by the modules are then fetched
testbin: automatically (GOTOOLCHAIN=auto).
EOF
        exit 3
    fi
    local v
    v=$(go env GOVERSION 2>/dev/null) || v=""
    if [[ $v =~ ^go([0-9]+)\.([0-9]+) ]]; then
        local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
        if ((major < MIN_GO_MAJOR || (major == MIN_GO_MAJOR && minor < MIN_GO_MINOR))); then
            die 3 "Go >= $MIN_GO_MAJOR.$MIN_GO_MINOR is needed, found $v ($(command -v go)); install a newer one from https://go.dev/dl/"
        fi
    else
        log "warning: could not parse Go version '${v:-?}', continuing"
    fi
}

require_go

# Keep the wrapper modules independent of whatever surrounds them.
export GOWORK=off GO111MODULE=on GOFLAGS="${GOFLAGS:-}"
unset GOOS GOARCH 2>/dev/null || true

mkdir -p "$CACHE_ROOT"

# Scratch paths to remove on exit (wrapper modules, partial build dirs).
SCRATCH=()
cleanup() {
    local p
    for p in ${SCRATCH[@]+"${SCRATCH[@]}"}; do
        if [[ -n $p && -e $p ]]; then rm -rf -- "$p"; fi
    done
    return 0
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Serialise concurrent runs (parallel test jobs) on the same cache root.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_ROOT/.lock"
    if ! flock -n 9; then
        log "another build holds $CACHE_ROOT/.lock; waiting..."
        flock 9
    fi
fi

step_start=0
step() {
    step_start=$SECONDS
    log "$*"
}
step_done() { log "  done in $((SECONDS - step_start))s"; }

# new_scratch_dir PARENT PREFIX: create a directory removed on exit; its path
# is returned in REPLY (not via $(...), so the registration survives).
new_scratch_dir() {
    REPLY=$(mktemp -d "$1/$2.XXXXXX")
    SCRATCH+=("$REPLY")
}

# new_wrapper NAME: a throw-away consumer module in $TMPDIR; path in REPLY.
new_wrapper() {
    new_scratch_dir "${TMPDIR:-/tmp}" "breakglass-testbin-$1"
    (cd "$REPLY" && go mod init "breakglass.invalid/testbin/$1" >/dev/null 2>&1)
}

# module_field WRAPPER MODULE@VERSION TEMPLATE
module_field() {
    (cd "$1" && go list -m -f "$3" "$2")
}

# gomod_replaces GOMOD: print "old-path|old-version|new-path|new-version" for
# every replace directive (single-line or block form); versions may be empty.
gomod_replaces() {
    awk '
        function emit(line,   parts, a, b, na, nb) {
            sub(/\/\/.*/, "", line)
            if (split(line, parts, "=>") != 2) return
            na = split(parts[1], a, " ")
            nb = split(parts[2], b, " ")
            if (na < 1 || nb < 1) return
            print a[1] "|" (na > 1 ? a[2] : "") "|" b[1] "|" (nb > 1 ? b[2] : "")
        }
        /^replace[ \t]*\([ \t]*(\/\/.*)?$/ { inblock = 1; next }
        inblock && /^[ \t]*\)/ { inblock = 0; next }
        inblock { emit($0); next }
        /^replace[ \t]/ { l = $0; sub(/^replace[ \t]+/, "", l); emit(l) }
    ' "$1"
}

# gomod_directive GOMOD NAME: value of a single-line directive (go, toolchain).
gomod_directive() {
    awk -v n="$2" '$1 == n && NF >= 2 { print $2; exit }' "$1"
}

# gomod_godebug GOMOD: every key=value of godebug directives (either form).
gomod_godebug() {
    awk '
        /^godebug[ \t]*\(/ { inblock = 1; next }
        inblock && /^[ \t]*\)/ { inblock = 0; next }
        inblock { sub(/\/\/.*/, ""); for (i = 1; i <= NF; i++) print $i; next }
        /^godebug[ \t]/ { sub(/\/\/.*/, ""); for (i = 2; i <= NF; i++) print $i }
    ' "$1"
}

# install_dir SCRATCH FINAL: stamp SCRATCH and move it to FINAL.
install_dir() {
    local src=$1 dst=$2
    date -u +%Y-%m-%dT%H:%M:%SZ >"$src/$STAMP"
    chmod 755 "$src"
    # A leftover without stamp (or an explicitly invalidated dir) is replaced.
    if [[ -e $dst ]]; then
        local old="$dst.old.$$"
        mv -T -- "$dst" "$old"
        SCRATCH+=("$old")
    fi
    mv -T -- "$src" "$dst"
}

# ---------------------------------------------------------------------------
build_k8s() {
    local total_start=$SECONDS
    local staging_version="v0.${K8S_VERSION#v1.}"
    local wrap gomod go_directive build_date minor

    step "resolving k8s.io/kubernetes@$K8S_VERSION..."
    new_wrapper k8s
    wrap=$REPLY
    gomod=$(module_field "$wrap" "k8s.io/kubernetes@$K8S_VERSION" '{{.GoMod}}') ||
        die 1 "cannot resolve k8s.io/kubernetes@$K8S_VERSION (is GOPROXY reachable?)"
    [[ -f $gomod ]] || die 1 "go.mod of k8s.io/kubernetes@$K8S_VERSION not found at '$gomod'"
    build_date=$(module_field "$wrap" "k8s.io/kubernetes@$K8S_VERSION" \
        '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}')
    [[ -n $build_date ]] || build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

    # The release's go.mod points every staging module at ./staging/src/...,
    # which does not exist for a consumer; map each to its published v0.Y.Z.
    local -a edits=()
    local old oldv new newv n_staging=0
    while IFS='|' read -r old oldv new newv; do
        [[ -n $old ]] || continue
        if [[ $new == ./staging/src/* ]]; then
            edits+=("-replace=$old=$old@$staging_version")
            n_staging=$((n_staging + 1))
        elif [[ $new == ./* || $new == ../* || $new == /* ]]; then
            log "warning: ignoring local replace $old => $new from k8s.io/kubernetes go.mod"
        else
            edits+=("-replace=$old${oldv:+@$oldv}=$new${newv:+@$newv}")
        fi
    done < <(gomod_replaces "$gomod")
    ((n_staging > 0)) || die 1 "no ./staging/src replace directives found in $gomod; unexpected go.mod layout"

    go_directive=$(gomod_directive "$gomod" go)
    if [[ -n $go_directive ]]; then edits+=("-go=$go_directive"); fi
    local kv
    while read -r kv; do
        if [[ -n $kv ]]; then edits+=("-godebug=$kv"); fi
    done < <(gomod_godebug "$gomod")
    edits+=("-require=k8s.io/kubernetes@$K8S_VERSION")

    (cd "$wrap" && go mod edit "${edits[@]}")
    log "  mapped $n_staging staging modules to $staging_version"
    (cd "$wrap" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
        "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" >/dev/null 2>"$wrap/get.log") || {
        cat "$wrap/get.log" >&2
        die 1 "go get of k8s.io/kubernetes@$K8S_VERSION commands failed"
    }
    step_done

    minor=${K8S_VERSION#v1.}
    minor=${minor%%.*}
    local ld="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ld+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$build_date -X $pkg.gitCommit="
    done

    local out_dir
    new_scratch_dir "$CACHE_ROOT" ".build-k8s-$K8S_VERSION"
    out_dir=$REPLY
    local cmd
    for cmd in kube-apiserver kubectl; do
        step "building $cmd $K8S_VERSION (this takes several minutes on a cold cache)..."
        (cd "$wrap" && CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "$ld" \
            -o "$out_dir/$cmd" "k8s.io/kubernetes/cmd/$cmd") || die 1 "building $cmd failed"
        step_done
    done
    install_dir "$out_dir" "$K8S_DIR"
    log "k8s $K8S_VERSION ready in $K8S_DIR ($((SECONDS - total_start))s total)"
}

# ---------------------------------------------------------------------------
build_etcd() {
    local total_start=$SECONDS
    local major=${ETCD_VERSION#v}
    major=${major%%.*}
    local mod="go.etcd.io/etcd/server/v$major"
    local wrap gomod go_directive

    step "resolving $mod@$ETCD_VERSION..."
    new_wrapper etcd
    wrap=$REPLY
    gomod=$(module_field "$wrap" "$mod@$ETCD_VERSION" '{{.GoMod}}') ||
        die 1 "cannot resolve $mod@$ETCD_VERSION (is GOPROXY reachable?)"
    go_directive=$(gomod_directive "$gomod" go)
    local -a edits=("-require=$mod@$ETCD_VERSION")
    if [[ -n $go_directive ]]; then edits+=("-go=$go_directive"); fi
    (cd "$wrap" && go mod edit "${edits[@]}")
    # etcd's own replace directives (../api etc.) only apply inside its repo;
    # as a dependency, the sibling modules resolve to their published versions.
    (cd "$wrap" && go get "$mod@$ETCD_VERSION" >/dev/null 2>"$wrap/get.log") || {
        cat "$wrap/get.log" >&2
        die 1 "go get $mod@$ETCD_VERSION failed"
    }
    step_done

    local out_dir
    new_scratch_dir "$CACHE_ROOT" ".build-etcd-$ETCD_VERSION"
    out_dir=$REPLY
    step "building etcd $ETCD_VERSION..."
    (cd "$wrap" && CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "-s -w" \
        -o "$out_dir/etcd" "$mod") || die 1 "building etcd failed"
    step_done
    install_dir "$out_dir" "$ETCD_DIR"
    log "etcd $ETCD_VERSION ready in $ETCD_DIR ($((SECONDS - total_start))s total)"
}

# ---------------------------------------------------------------------------
build_sops() {
    local total_start=$SECONDS
    local out_dir
    new_scratch_dir "$CACHE_ROOT" ".build-sops-$SOPS_VERSION"
    # GOBIN must be absolute; BREAKGLASS_TESTBIN_DIR may be relative.
    out_dir=$(cd "$REPLY" && pwd -P)
    # Both are plain `go install module@version` builds: the modules' own
    # go.mod files apply unchanged, so no wrapper module is needed. Run from
    # the scratch directory so no surrounding go.mod can interfere.
    local spec
    for spec in "sops|$SOPS_MODULE/cmd/sops@$SOPS_VERSION" \
        "age-keygen|$AGE_MODULE/cmd/age-keygen@$AGE_VERSION"; do
        step "building ${spec%%|*} (${spec#*|})..."
        (cd "$out_dir" && CGO_ENABLED=0 GOBIN=$out_dir go install -trimpath \
            -ldflags "-s -w" "${spec#*|}") || die 1 "building ${spec%%|*} failed"
        [[ -x $out_dir/${spec%%|*} ]] || die 1 "go install did not produce $out_dir/${spec%%|*}"
        step_done
    done
    printf '%s\n' "$AGE_VERSION" >"$out_dir/$AGE_STAMP"
    install_dir "$out_dir" "$SOPS_DIR"
    log "sops $SOPS_VERSION and age-keygen $AGE_VERSION ready in $SOPS_DIR ($((SECONDS - total_start))s total)"
}

# ---------------------------------------------------------------------------
# kustomize and helm: `go install module@version`, like sops, and for helm the
# ldflags of its Makefile.

# go_install_release NAME PACKAGE@VERSION OUT_DIR LDFLAGS
go_install_release() {
    local name=$1 spec=$2 out_dir=$3 ld=$4
    step "building $name ($spec)..."
    (cd "$out_dir" && CGO_ENABLED=0 GOBIN=$out_dir \
        go install -trimpath -ldflags "$ld" "$spec") ||
        die 1 "building $name failed (see the go output above)"
    [[ -x $out_dir/$name ]] || die 1 "go install did not produce $out_dir/$name"
    step_done
}

build_kustomize() {
    local total_start=$SECONDS out_dir
    new_scratch_dir "$CACHE_ROOT" ".build-kustomize-$KUSTOMIZE_VERSION"
    out_dir=$(cd "$REPLY" && pwd -P)
    # The module root is the main package; its version comes from the build
    # info, so `kustomize version` is right without ldflags.
    go_install_release kustomize "$KUSTOMIZE_MODULE@$KUSTOMIZE_VERSION" "$out_dir" "-s -w"
    install_dir "$out_dir" "$KUSTOMIZE_DIR"
    log "kustomize $KUSTOMIZE_VERSION ready in $KUSTOMIZE_DIR ($((SECONDS - total_start))s total)"
}

# gomod_require GOMOD PATH: the required version of module PATH (either form).
gomod_require() {
    awk -v m="$2" '
        $1 == "require" && $2 != "(" { $1 = ""; $0 = $0 }
        $1 == m && NF >= 2 { print $2; exit }
    ' "$1"
}

build_helm() {
    local total_start=$SECONDS out_dir wrap gomod client_go
    step "resolving $HELM_MODULE@$HELM_VERSION..."
    new_wrapper helm
    wrap=$REPLY
    gomod=$(module_field "$wrap" "$HELM_MODULE@$HELM_VERSION" '{{.GoMod}}') ||
        die 1 "cannot resolve $HELM_MODULE@$HELM_VERSION (is GOPROXY reachable?)"
    [[ -f $gomod ]] || die 1 "go.mod of $HELM_MODULE@$HELM_VERSION not found at '$gomod'"
    step_done

    # What helm's Makefile passes for a tagged release: the version (no
    # metadata), a clean tree, and the Kubernetes version of its client-go
    # (v0.Y.Z is Kubernetes 1.Y) as the default .Capabilities.KubeVersion.
    local v=helm.sh/helm/v3/internal/version
    local ld="-s -w -X $v.version=$HELM_VERSION -X $v.metadata= -X $v.gitTreeState=clean"
    client_go=$(gomod_require "$gomod" k8s.io/client-go)
    if [[ $client_go =~ ^v0\.([0-9]+)\. ]]; then
        local minor=${BASH_REMATCH[1]} pkg
        for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
            ld+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
        done
    else
        log "warning: no k8s.io/client-go v0.Y.Z in $gomod ('${client_go:-none}'); helm keeps its default Kubernetes version"
    fi

    new_scratch_dir "$CACHE_ROOT" ".build-helm-$HELM_VERSION"
    out_dir=$(cd "$REPLY" && pwd -P)
    go_install_release helm "$HELM_MODULE/cmd/helm@$HELM_VERSION" "$out_dir" "$ld"
    local reported
    reported=$(HOME=$wrap "$out_dir/helm" version --template '{{.Version}}' 2>/dev/null) || reported=""
    [[ $reported == "$HELM_VERSION" ]] ||
        log "warning: the built helm reports version '${reported:-?}', expected $HELM_VERSION (did the ldflags path change?)"
    install_dir "$out_dir" "$HELM_DIR"
    log "helm $HELM_VERSION ready in $HELM_DIR ($((SECONDS - total_start))s total)"
}

# ---------------------------------------------------------------------------
# Flux: source-controller and kustomize-controller, built from a copy of each
# module with its ./api replace directive pointed at the published api module.

# module_dir MODULE@VERSION: download the module and print the directory of
# its read-only copy in the module cache.
module_dir() {
    local json dir
    json=$(cd "${TMPDIR:-/tmp}" && go mod download -json "$1") || {
        printf '%s\n' "$json" >&2
        return 1
    }
    dir=$(printf '%s\n' "$json" | awk -F'"' '$2 == "Dir" { print $4; exit }')
    [[ -n $dir && -d $dir ]] || {
        printf '%s\n' "$json" >&2
        return 1
    }
    printf '%s\n' "$dir"
}

# module_copy MODULE@VERSION NAME: a writable copy of the downloaded module in a
# scratch directory (in REPLY), for a build whose go.mod must be the main module's.
module_copy() {
    local dir
    dir=$(module_dir "$1") || die 1 "cannot download $1 (is GOPROXY reachable?)"
    new_scratch_dir "${TMPDIR:-/tmp}" "breakglass-testbin-$2"
    cp -R -- "$dir/." "$REPLY/"
    chmod -R u+w -- "$REPLY"
}

# flux_dependency_pins NAME VERSION: "module=module@version" replace arguments
# for dependencies of that release that the module proxy does not serve.
flux_dependency_pins() {
    case "$1@$2" in
    source-controller@v1.9.6) echo "github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.0" ;;
    esac
}

# build_flux_controller NAME VERSION OUT_DIR: OUT_DIR/NAME and OUT_DIR/crds/.
build_flux_controller() {
    local name=$1 version=$2 out_dir=$3
    local mod=$FLUX_MODULE_PREFIX/$name dir src
    step "downloading $mod@$version..."
    module_copy "$mod@$version" "$name"
    src=$REPLY
    dir=$(module_dir "$mod@$version") || die 1 "cannot download $mod@$version"

    # Only the ./ replace directives need a new target: the api module at the
    # version the controller's go.mod requires (its own release tag).
    local -a edits=()
    local old oldv new newv req api_dir
    while IFS='|' read -r old oldv new newv; do
        [[ $new == ./* || $new == ../* ]] || continue
        req=$(gomod_require "$src/go.mod" "$old")
        [[ -n $req ]] || die 1 "$mod@$version replaces $old with $new but does not require it"
        api_dir=$(module_dir "$old@$req") || die 1 "cannot download $old@$req"
        edits+=("-replace=$old${oldv:+@$oldv}=$api_dir")
        log "  $old => $old@$req"
    done < <(gomod_replaces "$src/go.mod")
    local pin
    while read -r pin; do
        [[ -n $pin ]] || continue
        edits+=("-replace=$pin")
        log "  pinned ${pin#*=} (the version $name $version asks for is not served)"
    done < <(flux_dependency_pins "$name" "$version")
    if ((${#edits[@]} > 0)); then (cd "$src" && go mod edit "${edits[@]}"); fi
    step_done

    # -mod=mod: a pinned dependency has no go.sum line yet.
    step "building $name $version (several minutes on a cold cache)..."
    (cd "$src" && CGO_ENABLED=0 go build -mod=mod -trimpath \
        -ldflags "-s -w" -o "$out_dir/$name" .) || die 1 "building $name $version failed"
    step_done

    local crd n=0
    mkdir -p "$out_dir/crds"
    for crd in "$dir"/config/crd/bases/*.yaml; do
        [[ -f $crd ]] || continue
        cp -- "$crd" "$out_dir/crds/"
        n=$((n + 1))
    done
    ((n > 0)) || die 1 "no CRDs in $mod@$version (config/crd/bases/*.yaml)"
    chmod 644 "$out_dir"/crds/*.yaml
    log "  $n CRDs from $mod@$version"
}

build_flux() {
    local total_start=$SECONDS out_dir
    new_scratch_dir "$CACHE_ROOT" ".build-flux-$FLUX_SC_VERSION-$FLUX_KC_VERSION"
    out_dir=$(cd "$REPLY" && pwd -P)
    build_flux_controller source-controller "$FLUX_SC_VERSION" "$out_dir"
    build_flux_controller kustomize-controller "$FLUX_KC_VERSION" "$out_dir"
    install_dir "$out_dir" "$FLUX_DIR"
    log "flux source-controller $FLUX_SC_VERSION and kustomize-controller $FLUX_KC_VERSION ready in $FLUX_DIR ($((SECONDS - total_start))s total)"
}

# ---------------------------------------------------------------------------
# promtool: `go install` of ./cmd/promtool, with the tags and version ldflags of
# Prometheus's .promu.yml (builtinassets only matters for the server's web UI).

build_prometheus() {
    local total_start=$SECONDS out_dir wrap release minor patch build_date
    step "resolving $PROMETHEUS_MODULE@$PROMETHEUS_VERSION..."
    new_wrapper prometheus
    wrap=$REPLY
    build_date=$(module_field "$wrap" "$PROMETHEUS_MODULE@$PROMETHEUS_VERSION" \
        '{{if .Time}}{{.Time.UTC.Format "20060102-15:04:05"}}{{end}}') ||
        die 1 "cannot resolve $PROMETHEUS_MODULE@$PROMETHEUS_VERSION (is GOPROXY reachable?)"
    step_done

    # v0.3YY.Z[-pre] is release 3.YY.Z[-pre]: 3.<YY without leading zero>.Z.
    minor=${PROMETHEUS_VERSION#v0.3}
    patch=${minor#*.}
    minor=${minor%%.*}
    release=3.$((10#$minor)).$patch

    local v=github.com/prometheus/common/version
    local ld="-s -w -X $v.Version=$release -X $v.Branch=HEAD"
    ld+=" -X $v.BuildUser=breakglass-testbin -X $v.BuildDate=$build_date"

    new_scratch_dir "$CACHE_ROOT" ".build-prometheus-$PROMETHEUS_VERSION"
    out_dir=$(cd "$REPLY" && pwd -P)
    step "building promtool $release ($PROMETHEUS_MODULE/cmd/promtool@$PROMETHEUS_VERSION, several minutes on a cold cache)..."
    (cd "$out_dir" && CGO_ENABLED=0 GOBIN=$out_dir go install -trimpath -tags netgo \
        -ldflags "$ld" "$PROMETHEUS_MODULE/cmd/promtool@$PROMETHEUS_VERSION") ||
        die 1 "building promtool failed (see the go output above)"
    [[ -x $out_dir/promtool ]] || die 1 "go install did not produce $out_dir/promtool"
    step_done
    local reported
    reported=$("$out_dir/promtool" --version 2>&1 | head -n 1) || reported=""
    [[ $reported == *"version $release "* ]] ||
        log "warning: the built promtool reports '${reported:-?}', expected version $release (did the ldflags path change?)"
    install_dir "$out_dir" "$PROMETHEUS_DIR"
    log "promtool $release ($PROMETHEUS_VERSION) ready in $PROMETHEUS_DIR ($((SECONDS - total_start))s total)"
}

# ---------------------------------------------------------------------------
# OpenTofu: `go build ./cmd/tofu` in a copy of the module, so its own replace
# directive (OpenTofu's fork of hcl/v2) applies.

build_opentofu() {
    local total_start=$SECONDS out_dir src
    step "downloading $OPENTOFU_MODULE@$OPENTOFU_VERSION..."
    module_copy "$OPENTOFU_MODULE@$OPENTOFU_VERSION" opentofu
    src=$REPLY
    step_done
    new_scratch_dir "$CACHE_ROOT" ".build-opentofu-$OPENTOFU_VERSION"
    out_dir=$(cd "$REPLY" && pwd -P)
    step "building tofu $OPENTOFU_VERSION (several minutes on a cold cache)..."
    (cd "$src" && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X $OPENTOFU_MODULE/version.dev=no" -o "$out_dir/tofu" ./cmd/tofu) ||
        die 1 "building tofu $OPENTOFU_VERSION failed (see the go output above)"
    step_done
    local reported
    reported=$(TF_CLI_CONFIG_FILE=/dev/null "$out_dir/tofu" version 2>/dev/null | grep -m1 '^OpenTofu ') ||
        reported=""
    [[ $reported == "OpenTofu $OPENTOFU_VERSION" ]] ||
        log "warning: the built tofu reports '${reported:-?}', expected OpenTofu $OPENTOFU_VERSION"
    install_dir "$out_dir" "$OPENTOFU_DIR"
    log "tofu $OPENTOFU_VERSION ready in $OPENTOFU_DIR ($((SECONDS - total_start))s total)"
}

# The hashicorp/kubernetes provider, laid out as an unpacked filesystem mirror.
build_tf_kubernetes() {
    local total_start=$SECONDS out_dir src platform bin_dir
    step "downloading $TF_KUBERNETES_MODULE@$TF_KUBERNETES_VERSION..."
    module_copy "$TF_KUBERNETES_MODULE@$TF_KUBERNETES_VERSION" tf-kubernetes
    src=$REPLY
    # vbom.ml no longer serves its module; the same commit lives on GitHub.
    (cd "$src" && go mod edit \
        -replace=vbom.ml/util=github.com/fvbommel/util@v0.0.0-20160121211510-db5cfe13f5cc)
    step_done
    platform=$(go env GOOS)_$(go env GOARCH)
    new_scratch_dir "$CACHE_ROOT" ".build-tf-kubernetes-$TF_KUBERNETES_VERSION"
    out_dir=$(cd "$REPLY" && pwd -P)
    bin_dir=$out_dir/$TF_KUBERNETES_MIRRORED/$platform
    mkdir -p "$bin_dir"
    step "building terraform-provider-kubernetes $TF_KUBERNETES_VERSION (a few minutes on a cold cache)..."
    (cd "$src" && CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "-s -w" \
        -o "$bin_dir/terraform-provider-kubernetes_$TF_KUBERNETES_VERSION" .) ||
        die 1 "building terraform-provider-kubernetes $TF_KUBERNETES_VERSION failed (see the go output above)"
    mkdir -p "$out_dir/$TF_KUBERNETES_MIRRORED_TF"
    cp -R -- "$bin_dir" "$out_dir/$TF_KUBERNETES_MIRRORED_TF/"
    step_done
    install_dir "$out_dir" "$TF_KUBERNETES_DIR"
    log "hashicorp/kubernetes $TF_KUBERNETES_VERSION ready in $TF_KUBERNETES_DIR/mirror ($((SECONDS - total_start))s total)"
}

# Terraform: a plain `go install` (its go.mod has no replace directives).
build_terraform() {
    local total_start=$SECONDS out_dir reported
    new_scratch_dir "$CACHE_ROOT" ".build-terraform-$TERRAFORM_VERSION"
    out_dir=$(cd "$REPLY" && pwd -P)
    step "building terraform $TERRAFORM_VERSION ($TERRAFORM_MODULE, a few minutes on a cold cache)..."
    (cd "$out_dir" && CGO_ENABLED=0 GOBIN=$out_dir go install -trimpath -ldflags "-s -w" \
        "$TERRAFORM_MODULE@$TERRAFORM_VERSION") ||
        die 1 "building terraform $TERRAFORM_VERSION failed (see the go output above)"
    [[ -x $out_dir/terraform ]] || die 1 "go install did not produce $out_dir/terraform"
    step_done
    reported=$(TF_CLI_CONFIG_FILE=/dev/null "$out_dir/terraform" version 2>/dev/null |
        grep -m1 '^Terraform ') || reported=""
    [[ $reported == "Terraform $TERRAFORM_VERSION" ]] ||
        log "warning: the built terraform reports '${reported:-?}', expected Terraform $TERRAFORM_VERSION"
    install_dir "$out_dir" "$TERRAFORM_DIR"
    log "terraform $TERRAFORM_VERSION ready in $TERRAFORM_DIR ($((SECONDS - total_start))s total)"
}

# Re-check under the lock: a concurrent run may have finished meanwhile.
if k8s_cached; then log "cached: $K8S_DIR"; else build_k8s; fi
if etcd_cached; then log "cached: $ETCD_DIR"; else build_etcd; fi
if sops_cached; then log "cached: $SOPS_DIR"; else build_sops; fi
if kustomize_cached; then log "cached: $KUSTOMIZE_DIR"; else build_kustomize; fi
if helm_cached; then log "cached: $HELM_DIR"; else build_helm; fi
if flux_cached; then log "cached: $FLUX_DIR"; else build_flux; fi
if prometheus_cached; then log "cached: $PROMETHEUS_DIR"; else build_prometheus; fi
if opentofu_cached; then log "cached: $OPENTOFU_DIR"; else build_opentofu; fi
if tf_kubernetes_cached; then log "cached: $TF_KUBERNETES_DIR"; else build_tf_kubernetes; fi
if terraform_cached; then log "cached: $TERRAFORM_DIR"; else build_terraform; fi

emit
