# syntax=docker/dockerfile:1
# breakglass: the webhooks and the backfill worker in one image.
#
#   docker build -t breakglass:0.1.0 --build-arg VERSION=0.1.0 .
#   docker run --rm breakglass:0.1.0 --help
#
# The builder makes breakglass's wheel and the wheels of its dependencies; the sops, kustomize
# and helm stages build those tools from their Go modules; the final stage installs the wheels
# from a bind mount (no wheel files, pip cache or compilers end up in a layer) and adds git,
# which the worker drives to push backfill branches, and the three binaries.

ARG PYTHON_IMAGE=python:3.11-slim
# The version comes from Git tags (setuptools-scm), and the build context has no .git: pass the
# release's (docker build --build-arg VERSION=0.2.0 .); unset, the package and the label say 0.0.0.
ARG VERSION=0.0.0
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG VERSION
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SETUPTOOLS_SCM_PRETEND_VERSION=${VERSION}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY breakglass ./breakglass
# With the `postgresql` extra, so replicas can share a PostgreSQL journal out of the box.
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip wheel --wheel-dir /wheels "$(ls /wheels/breakglass-*-py3-none-any.whl)[postgresql]"

# sops: when a repository keeps its Secrets SOPS-encrypted for age recipients, the backfill
# worker encrypts the Secret values it writes with it. Static (CGO_ENABLED=0), so the binary
# needs nothing from the final image; the same version tests/e2e/testbin.sh builds for the tests.
FROM ${GO_IMAGE} AS sops
ARG SOPS_VERSION=v3.13.3
RUN CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" \
    github.com/getsops/sops/v3/cmd/sops@${SOPS_VERSION}

# kustomize and helm: before a backfill pull request is opened, the worker renders what the
# branch deploys (`kustomize build`, `helm template`) to check the change is in it. Static and
# the versions tests/e2e/testbin.sh builds for the tests, like sops (kustomize v5.8.2 is the
# newest that builds with Go 1.26; later ones ask for Go 1.27).
FROM ${GO_IMAGE} AS kustomize
ARG KUSTOMIZE_VERSION=v5.8.2
RUN CGO_ENABLED=0 go install -trimpath -ldflags="-s -w" \
    sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}

# helm with the ldflags of its Makefile: the release version (for `helm version`) and, as the
# default .Capabilities.KubeVersion, the Kubernetes minor of the client-go it was built with
# (v0.Y.Z is Kubernetes 1.Y) instead of helm's fallback v1.20.
FROM ${GO_IMAGE} AS helm
ARG HELM_VERSION=v3.21.4
RUN gomod="$(go list -m -f '{{.GoMod}}' "helm.sh/helm/v3@${HELM_VERSION}")" \
    && minor="$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2]; exit }' "$gomod")" \
    && test -n "$minor" \
    && CGO_ENABLED=0 go install -trimpath -ldflags="-s -w \
       -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} \
       -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
       -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
       -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${minor} \
       -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
       -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${minor}" \
       helm.sh/helm/v3/cmd/helm@${HELM_VERSION}

FROM ${PYTHON_IMAGE}
ARG VERSION
LABEL org.opencontainers.image.title="breakglass" \
      org.opencontainers.image.description="Captures manual kubectl changes to GitOps clusters and backfills them into Git as pull requests" \
      org.opencontainers.image.source="https://example.invalid/breakglass/breakglass" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git only; Debian's security updates move its version, so it is not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 breakglass \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/breakglass \
       --no-create-home --shell /usr/sbin/nologin breakglass \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/breakglass

COPY --from=sops /go/bin/sops /usr/local/bin/sops
COPY --from=kustomize /go/bin/kustomize /usr/local/bin/kustomize
COPY --from=helm /go/bin/helm /usr/local/bin/helm

# Unpinned on purpose: --no-index leaves exactly the wheels the builder resolved to choose from.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "breakglass[postgresql]"

USER 10001:10001
WORKDIR /var/lib/breakglass
# the webhooks (HTTPS), their metrics (metrics.listen), the worker's metrics (metrics.worker_listen)
EXPOSE 8443 9090 9091
ENTRYPOINT ["breakglass"]
CMD ["serve", "--config", "/etc/breakglass/config/breakglass.yaml"]
