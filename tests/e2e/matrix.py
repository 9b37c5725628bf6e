"""The verb matrix: kubectl writes by kind and repository layout, and what each must become.

Each ``Case`` is one object in its own namespace (named after the case) whose manifests live in
their own Git repository, ``tests/e2e/manifests/matrix/<case id>/repo/``.  Argo CD's stand-in
owns it (an Application plus a server-side apply by its identity), or a repository rule does
(for objects a person creates).  ``runs`` are the kubectl commands people type, in phases: a
later phase starts once the earlier one's captures have settled (a pull request is open, say).
``expect`` is what a careful reviewer wants to see at the end: a pull request whose diff is
exactly the given lines, a "needs a human" issue, a recorded-only operation, or no pull request.

This module is pure (no cluster): ``tests/e2e/test_verb_matrix.py`` drives the cases, and
``supported_operations_table`` renders the reference table kept in
``docs/supported-operations.md``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "manifests" / "matrix"
DOC = Path(__file__).resolve().parents[2] / "docs" / "supported-operations.md"
DOC_BEGIN, DOC_END = "<!-- matrix:begin -->\n", "<!-- matrix:end -->"
ALICE = "Alice Doe <alice@example.com>"
BOB = "bob <bob@e2e.breakglass.invalid>"
SELF_HEALED = "breakglass/reverted-by-sync"

LAYOUTS = {
    "plain": "plain files (one object per file)",
    "multidoc": "multi-document file",
    "json": "JSON manifests",
    "kustomize": "kustomize",
    "helm": "Helm chart values",
}


# -- what people run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One kubectl command, by one person, in the case's namespace.

    ``edits`` are the text replacements a person makes: in the editor for ``kubectl edit``, or
    in the output of ``kubectl get <fetch> -o yaml`` that is then piped to the command (for
    ``kubectl replace -f -``).  ``file`` names a file of the case directory passed with ``-f``.
    ``revision`` has the stand-in deployment controller record a ReplicaSet revision of that
    Deployment afterwards (``kubectl rollout undo`` reads them).
    """

    verb: str  # as shown in the table, without "kubectl "
    args: tuple[str, ...]
    user: str = "alice"
    edits: tuple[tuple[str, str], ...] = ()
    fetch: str | None = None
    file: str | None = None
    revision: str | None = None

    def command(self) -> str:
        return f"kubectl {self.verb}"


# -- what must come of it --------------------------------------------------------------------


@dataclass(frozen=True)
class PullRequest:
    """A pull request whose diff changes exactly ``diff`` (file → changed lines, in order)."""

    diff: Mapping[str, Sequence[str]]
    title: Sequence[str] = ()  # substrings of the title
    body: Sequence[str] = ()  # substrings of the body
    lines: Sequence[Sequence[str]] = ()  # each: words that one line of the body holds together
    assignees: Sequence[str] = ("alice-doe",)  # must be among the assignees
    commits: Sequence[str] = (ALICE,)  # branch commit authors, oldest first
    comments: Sequence[tuple[Sequence[str], Sequence[str]]] = ()  # (has, lacks) per comment
    never: Sequence[str] = ()  # text that must appear nowhere (record, diff)

    def describe(self) -> str:
        return "pull request"


@dataclass(frozen=True)
class Issue:
    """A "needs a human" issue, no pull request; ``keys`` name what changed and how."""

    keys: Mapping[str, str] = field(default_factory=dict)  # key → changed | added | removed
    title: Sequence[str] = ()
    body: Sequence[str] = ()
    never: Sequence[str] = ()

    def describe(self) -> str:
        return "needs a human (issue)"


@dataclass(frozen=True)
class Recorded:
    """An operation, not drift: every capture ends ``ignored``, nothing reaches the forge."""

    def describe(self) -> str:
        return "recorded only"


@dataclass(frozen=True)
class NoPullRequest:
    """Nothing to review: the captures end ``status`` (reason containing ``reason``)."""

    status: str
    reason: str = ""

    def describe(self) -> str:
        return f"no pull request ({self.status})"


@dataclass(frozen=True)
class Withdrawn:
    """A pull request was opened and then closed by breakglass, because the object went back to
    Git's value by hand; not labelled as reverted by a sync."""

    def describe(self) -> str:
        return "pull request, then withdrawn"


Outcome = PullRequest | Issue | Recorded | NoPullRequest | Withdrawn


# -- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One object, its repository, what people do to it and what must come of it."""

    id: str
    kind: str
    layout: str
    runs: tuple[tuple[Run, ...], ...]
    expect: Outcome
    summary: str  # what happens in Git, for docs/supported-operations.md
    app_path: str = ""
    owner: str = "argocd"  # "argocd": an Application of app_path; "rule": a repository rule
    helm_app: str | None = None  # a file of the repository holding the Argo CD Application
    syncs: tuple[tuple[tuple[str, str], ...], ...] = ((),)  # live = Git with these replaced
    history: tuple[str, ...] = ()  # Deployments whose rollout revisions are recorded

    @property
    def namespace(self) -> str:
        return self.id

    @property
    def directory(self) -> Path:
        return FIXTURES / self.id

    @property
    def verbs(self) -> list[str]:
        return list(dict.fromkeys(run.command() for phase in self.runs for run in phase))

    @property
    def people(self) -> list[str]:
        return list(dict.fromkeys(run.user for phase in self.runs for run in phase))


def deleted(case_id: str, path: str) -> list[str]:
    """The lines of a file of a case's repository as ``git diff`` shows its deletion."""
    return ["-" + line for line in (FIXTURES / case_id / "repo" / path).read_text().splitlines()]


def single(verb: str, *args: str, **options: Any) -> tuple[tuple[Run, ...], ...]:
    """One phase of one kubectl command."""
    return ((Run(verb, args, **options),),)


def patch_json(*ops: Mapping[str, Any]) -> str:
    return json.dumps(list(ops), separators=(",", ":"))


TOKEN = "e2e-shipper-token-5f4e3d"
NEW_PASSWORD, NEW_API_KEY = "e2e-rotated-pw-4c3b2a", "e2e-new-api-key-9a8b7c"
SIGNING_KEY = "e2e-signing-key-1d2c3b"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CASES: tuple[Case, ...] = (
    # -- plain files: one object per file, an Argo CD directory application ----------------
    Case(
        id="edit-deployment-plain",
        kind="Deployment",
        layout="plain",
        app_path="apps/checkout",
        runs=single("edit", "edit", "deployment/checkout", edits=(("replicas: 2", "replicas: 6"),)),
        expect=PullRequest(
            diff={
                "apps/checkout/deployment.yaml": [
                    "-  replicas: 2  # HA minimum, do not go below 2",
                    "+  replicas: 6  # HA minimum, do not go below 2",
                ]
            },
            title=(
                "kubectl edit of deployment edit-deployment-plain/checkout by alice "
                "(2 → 6 replicas)",
            ),
        ),
        summary="`spec.replicas` edited in place; the end-of-line comment stays",
    ),
    Case(
        id="set-image-deployment-plain",
        kind="Deployment",
        layout="plain",
        app_path="apps/storefront",
        runs=single(
            "set image",
            "set",
            "image",
            "deployment/storefront",
            "app=registry.example/storefront:2.8.2",
            "envoy=envoyproxy/envoy:v1.30.3",
        ),
        expect=PullRequest(
            diff={
                "apps/storefront/deployment.yaml": [
                    "-          image: registry.example/storefront:2.8.1",
                    "+          image: registry.example/storefront:2.8.2",
                    "-          image: envoyproxy/envoy:v1.30.2  # pinned: v1.31 breaks our Lua filter",
                    "+          image: envoyproxy/envoy:v1.30.3  # pinned: v1.31 breaks our Lua filter",
                ]
            },
            title=(
                "kubectl set image of deployment set-image-deployment-plain/storefront by alice",
            ),
        ),
        summary="both containers' `image` edited, matched by container name; comments stay",
    ),
    Case(
        id="label-statefulset-plain",
        kind="StatefulSet",
        layout="plain",
        app_path="apps/ledger",
        runs=single(
            "label",
            "label",
            "statefulset/ledger",
            "tier=critical",
            "team=ledger-oncall",
            "--overwrite",
        ),
        expect=PullRequest(
            diff={
                "apps/ledger/statefulset.yaml": [
                    "-    team: payments",
                    "+    team: ledger-oncall",
                    "+    tier: critical",
                ]
            },
            title=("kubectl label of statefulset label-statefulset-plain/ledger by alice",),
        ),
        summary="a changed label edited, an added label written after its siblings",
    ),
    Case(
        id="edit-ingress-plain",
        kind="Ingress",
        layout="plain",
        app_path="apps/shop",
        runs=single(
            "edit",
            "edit",
            "ingress/shop",
            edits=(("host: shop.example.com", "host: www.shop.example.com"),),
        ),
        expect=PullRequest(
            diff={
                "apps/shop/ingress.yaml": [
                    "-    - host: shop.example.com  # the EU storefront; the US one has its own "
                    "Ingress",
                    "+    - host: www.shop.example.com  # the EU storefront; the US one has its "
                    "own Ingress",
                ]
            },
            title=("kubectl edit of ingress edit-ingress-plain/shop by alice",),
        ),
        summary="one `host` of `rules` (a list without a merge key) edited in place; "
        "the end-of-line comment and the other rule stay",
    ),
    Case(
        id="rollout-restart-daemonset-plain",
        kind="DaemonSet",
        layout="plain",
        app_path="apps/node-agent",
        runs=single("rollout restart", "rollout", "restart", "daemonset/node-agent"),
        expect=Recorded(),
        summary="nothing: a restart is an operation, not configuration",
    ),
    Case(
        id="label-namespace-plain",
        kind="Namespace",
        layout="plain",
        app_path="apps/namespaces",
        runs=single(
            "label",
            "label",
            "namespace",
            "label-namespace-plain",
            "pod-security.kubernetes.io/enforce=baseline",
            "pod-security.kubernetes.io/warn-",
            "cost-center=cc-4411",
            "--overwrite",
        ),
        expect=PullRequest(
            diff={
                "apps/namespaces/label-namespace-plain.yaml": [
                    "-    pod-security.kubernetes.io/enforce: restricted  # the baseline for app "
                    "namespaces",
                    "-    pod-security.kubernetes.io/warn: restricted",
                    "+    pod-security.kubernetes.io/enforce: baseline  # the baseline for app "
                    "namespaces",
                    "+    cost-center: cc-4411",
                ]
            },
            title=("kubectl label of namespace label-namespace-plain by alice",),
            body=("v1 Namespace label-namespace-plain",),
        ),
        summary="a changed label edited, a removed one deleted, a new one added after its "
        "siblings (cluster-scoped object)",
    ),
    Case(
        id="annotate-namespace-plain",
        kind="Namespace",
        layout="plain",
        app_path="apps/namespaces",
        runs=single(
            "annotate",
            "annotate",
            "namespace",
            "annotate-namespace-plain",
            "team.example/change-freeze-",
            "team.example/incident=INC-4471",
        ),
        expect=PullRequest(
            diff={
                "apps/namespaces/annotate-namespace-plain.yaml": [
                    "-    # freeze: no deploys until the index migration is done",
                    '-    team.example/change-freeze: "true"',
                    "+    team.example/incident: INC-4471",
                ]
            },
            title=("kubectl annotate of namespace annotate-namespace-plain by alice",),
            body=("v1 Namespace annotate-namespace-plain",),
        ),
        summary="a removed annotation deleted with the comment above it; an added one written "
        "after its siblings",
    ),
    Case(
        id="create-ratelimit-plain",
        kind="RateLimit (custom resource)",
        layout="plain",
        app_path="apps/edge",
        owner="rule",
        runs=single("create", "create", file="login-ratelimit.yaml"),
        expect=PullRequest(
            diff={
                "apps/edge/login-ratelimit.yaml": [
                    "+apiVersion: traffic.example.com/v1",
                    "+kind: RateLimit",
                    "+metadata:",
                    "+  name: login",
                    "+  namespace: create-ratelimit-plain",
                    "+spec:",
                    "+  burst: 10",
                    "+  mode: enforce",
                    "+  requestsPerSecond: 5",
                    "+  routes:",
                    "+    - /login",
                ]
            },
            title=("kubectl create of ratelimit create-ratelimit-plain/login by alice",),
        ),
        summary="a new file named like its siblings (`<name>-<kind>.yaml`), in their style; "
        "the owner is a repository rule for the namespace",
    ),
    Case(
        id="replace-ratelimit-plain",
        kind="RateLimit (custom resource)",
        layout="plain",
        app_path="apps/edge",
        runs=single(
            "replace",
            "replace",
            "-f",
            "-",
            fetch="ratelimit/checkout-api",
            edits=(("burst: 400", "burst: 800"),),
        ),
        expect=PullRequest(
            diff={
                "apps/edge/checkout-api.yaml": [
                    "-  burst: 400   # 2x rps",
                    "+  burst: 800   # 2x rps",
                ]
            },
            title=("kubectl replace of ratelimit replace-ratelimit-plain/checkout-api by alice",),
        ),
        summary="the one changed field of the whole object that was sent, edited in place",
    ),
    Case(
        id="replace-pdb-plain",
        kind="PodDisruptionBudget",
        layout="plain",
        app_path="apps/checkout",
        runs=single(
            "replace",
            "replace",
            "-f",
            "-",
            fetch="pdb/checkout",
            edits=(("minAvailable: 2", "minAvailable: 1"),),
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/pdb.yaml": [
                    "-  minAvailable: 2  # keep two replicas through node drains",
                    "+  minAvailable: 1  # keep two replicas through node drains",
                ]
            },
            title=("kubectl replace of poddisruptionbudget replace-pdb-plain/checkout by alice",),
        ),
        summary="`spec.minAvailable` edited in place",
    ),
    Case(
        id="set-env-daemonset-plain",
        kind="DaemonSet",
        layout="plain",
        app_path="apps/log-shipper",
        runs=single("set env", "set", "env", "daemonset/log-shipper", f"API_TOKEN={TOKEN}"),
        expect=Issue(
            title=("kubectl set env", "needs a human"),
            body=("env[name=API_TOKEN]", "looks secret"),
            never=(TOKEN,),
        ),
        summary="an env var named like a secret: its value was redacted when captured, so "
        "the issue names the field; never the value, never a redaction marker",
    ),
    Case(
        id="set-image-then-undo-deployment-plain",
        kind="Deployment",
        layout="plain",
        app_path="apps/payments-api",
        history=("payments-api",),
        runs=(
            (
                Run(
                    "set image",
                    (
                        "set",
                        "image",
                        "deployment/payments-api",
                        "api=registry.example/payments-api:7.2.0",
                    ),
                    revision="payments-api",
                ),
            ),
            (Run("rollout undo", ("rollout", "undo", "deployment/payments-api")),),
        ),
        expect=Withdrawn(),
        summary="the pull request of the image change is closed as withdrawn once the same "
        "engineer rolls it back",
    ),
    Case(
        id="patch-json-secret-plain",
        kind="Secret",
        layout="plain",
        app_path="apps/payments",
        runs=single(
            "patch (JSON: replace, add, remove)",
            "patch",
            "secret/payments-db",
            "--type=json",
            "-p",
            patch_json(
                {"op": "replace", "path": "/data/password", "value": b64(NEW_PASSWORD)},
                {"op": "add", "path": "/data/api-key", "value": b64(NEW_API_KEY)},
                {"op": "remove", "path": "/data/legacy-token"},
            ),
        ),
        expect=Issue(
            keys={"password": "changed", "api-key": "added", "legacy-token": "removed"},
            title=("kubectl patch", "secret patch-json-secret-plain/payments-db"),
            never=(NEW_PASSWORD, NEW_API_KEY, b64(NEW_PASSWORD), b64(NEW_API_KEY)),
        ),
        summary="nothing written: the repository has no SOPS, so Secret values cannot go to "
        "Git; the issue names each key as changed, added or removed",
    ),
    Case(
        id="create-secret-plain",
        kind="Secret",
        layout="plain",
        app_path="apps/payments",
        owner="rule",
        runs=single(
            "create",
            "create",
            "secret",
            "generic",
            "payments-webhook-signing",
            f"--from-literal=signing-key={SIGNING_KEY}",
        ),
        expect=Issue(
            keys={"signing-key": "added"},
            title=("kubectl create", "secret create-secret-plain/payments-webhook-signing"),
            never=(SIGNING_KEY, b64(SIGNING_KEY)),
        ),
        summary="nothing written: a new Secret's values cannot go to Git without SOPS; the "
        "issue names its keys",
    ),
    Case(
        id="apply-hpa-plain",
        kind="HorizontalPodAutoscaler",
        layout="plain",
        app_path="apps/checkout",
        runs=single("apply", "apply", file="hpa.yaml"),
        expect=PullRequest(
            diff={
                "apps/checkout/hpa.yaml": [
                    "-          averageUtilization: 70  # leaves headroom for a zone failure",
                    "+          averageUtilization: 55  # leaves headroom for a zone failure",
                ]
            },
            title=("kubectl apply of horizontalpodautoscaler apply-hpa-plain/checkout by alice",),
        ),
        summary="the one value that differs inside `metrics` (a list without a merge key), "
        "edited in place",
    ),
    Case(
        id="patch-json-add-service-plain",
        kind="Service",
        layout="plain",
        app_path="apps/checkout",
        runs=single(
            "patch (JSON: add)",
            "patch",
            "service/checkout",
            "--type=json",
            "-p",
            patch_json(
                {
                    "op": "add",
                    "path": "/spec/ports/-",
                    "value": {"name": "metrics", "port": 9090, "targetPort": 9090},
                }
            ),
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/service.yaml": [
                    "+    - name: metrics",
                    "+      port: 9090",
                    "+      targetPort: 9090",
                ]
            },
            title=("kubectl patch of service patch-json-add-service-plain/checkout by alice",),
        ),
        summary="a new `ports` item (merge key `name`) after its siblings, without the "
        "server's `protocol: TCP` default",
    ),
    Case(
        id="patch-to-git-value-configmap-plain",
        kind="ConfigMap",
        layout="plain",
        app_path="apps/checkout",
        syncs=((('"TIMEOUT": "30"', '"TIMEOUT": "90"'),),),
        runs=single(
            "patch (merge)",
            "patch",
            "configmap/checkout-config",
            "--type=merge",
            "-p",
            '{"data":{"TIMEOUT":"30"}}',
        ),
        expect=NoPullRequest("superseded", reason="Git already"),
        summary="nothing: the live object had drifted and the change puts back what Git says",
    ),
    # -- multi-document files ------------------------------------------------------------------
    Case(
        id="edit-configmap-multidoc",
        kind="ConfigMap",
        layout="multidoc",
        app_path="apps/gateway",
        runs=single(
            "edit",
            "edit",
            "configmap/gateway-nginx",
            edits=(("worker_connections 1024;", "worker_connections 4096;"),),
        ),
        expect=PullRequest(
            diff={
                "apps/gateway/gateway.yaml": [
                    "-      worker_connections 1024;",
                    "+      worker_connections 4096;",
                ]
            },
            title=("kubectl edit of configmap edit-configmap-multidoc/gateway-nginx by alice",),
        ),
        summary="one line inside a `|` block scalar; the other documents stay",
    ),
    Case(
        id="patch-merge-cronjob-multidoc",
        kind="CronJob",
        layout="multidoc",
        app_path="apps/reports",
        runs=single(
            "patch (merge)",
            "patch",
            "cronjob/nightly-report",
            "--type=merge",
            "-p",
            '{"spec":{"suspend":true}}',
        ),
        expect=PullRequest(
            diff={
                "apps/reports/reports.yaml": [
                    "-  suspend: false  # set to true to skip runs during incidents",
                    "+  suspend: true  # set to true to skip runs during incidents",
                ]
            },
            title=("kubectl patch of cronjob patch-merge-cronjob-multidoc/nightly-report",),
        ),
        summary="`spec.suspend` edited in place",
    ),
    Case(
        id="set-image-cronjob-multidoc",
        kind="CronJob",
        layout="multidoc",
        app_path="apps/reports",
        runs=single(
            "set image",
            "set",
            "image",
            "cronjob/nightly-report",
            "report=registry.example/reports:3.2.1",
        ),
        expect=PullRequest(
            diff={
                "apps/reports/reports.yaml": [
                    '-              image: "registry.example/reports:3.2.0"',
                    '+              image: "registry.example/reports:3.2.1"',
                ]
            },
            title=("kubectl set image of cronjob set-image-cronjob-multidoc/nightly-report",),
        ),
        summary="the job template's `image`, double quotes kept",
    ),
    Case(
        id="patch-json-remove-networkpolicy-multidoc",
        kind="NetworkPolicy",
        layout="multidoc",
        app_path="apps/checkout",
        runs=single(
            "patch (JSON: remove)",
            "patch",
            "networkpolicy/allow-checkout",
            "--type=json",
            "-p",
            patch_json({"op": "remove", "path": "/spec/ingress/1"}),
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/network-policies.yaml": [
                    "-    # TEMPORARY: the load test runner, remove after the game day",
                    "-    - from:",
                    "-        - namespaceSelector:",
                    "-            matchLabels:",
                    "-              kubernetes.io/metadata.name: loadtest",
                    "-      ports:",
                    "-        - port: 8080",
                ]
            },
            title=("kubectl patch of networkpolicy",),
        ),
        summary="one item of `ingress` (a list without a merge key) removed with the comment "
        "above it; the server's `protocol: TCP` defaults stay out",
    ),
    Case(
        id="set-env-deployment-multidoc",
        kind="Deployment",
        layout="multidoc",
        app_path="apps/search",
        runs=single(
            "set env",
            "set",
            "env",
            "deployment/search-api",
            "LOG_LEVEL=debug",
            "CACHE_ENABLED=false",
        ),
        expect=PullRequest(
            diff={
                "apps/search/search.yaml": [
                    '-              value: "info"',
                    '+              value: "debug"',
                    "+            - name: CACHE_ENABLED",
                    '+              value: "false"',
                ]
            },
            title=("kubectl set env of deployment set-env-deployment-multidoc/search-api",),
        ),
        summary="`env` items matched by name: a value changed (quotes kept), a new item after "
        'its siblings with the string `"false"` quoted',
    ),
    Case(
        id="set-resources-daemonset-multidoc",
        kind="DaemonSet",
        layout="multidoc",
        app_path="apps/node-agent",
        runs=single(
            "set resources",
            "set",
            "resources",
            "daemonset/node-agent",
            "-c",
            "agent",
            "--limits=memory=512Mi",
        ),
        expect=PullRequest(
            diff={
                "apps/node-agent/node-agent.yaml": [
                    "-            limits: {cpu: 200m, memory: 256Mi}   # OOMKilled at 128Mi in "
                    "March",
                    "+            limits: {cpu: 200m, memory: 512Mi}   # OOMKilled at 128Mi in "
                    "March",
                ]
            },
            title=(
                "kubectl set resources of daemonset set-resources-daemonset-multidoc/node-agent",
            ),
        ),
        summary="a value inside a flow mapping, edited in place",
    ),
    Case(
        id="label-service-multidoc",
        kind="Service",
        layout="multidoc",
        app_path="apps/search",
        runs=single("label", "label", "service/search-api", "monitoring-", "tier=edge"),
        expect=PullRequest(
            diff={
                "apps/search/search.yaml": [
                    "-    # scraped by the shared Prometheus; remove to stop scraping",
                    "-    monitoring: enabled",
                    "+    tier: edge",
                ]
            },
            title=("kubectl label of service label-service-multidoc/search-api by alice",),
        ),
        summary="a removed label deleted with the comment above it, an added one written",
    ),
    Case(
        id="apply-ssa-ratelimit-multidoc",
        kind="RateLimit (custom resource)",
        layout="multidoc",
        app_path="apps/edge",
        runs=single(
            "apply --server-side",
            "apply",
            "--server-side",
            "--field-manager=alice-hotfix",
            "--force-conflicts",
            file="hotfix.yaml",
        ),
        expect=PullRequest(
            diff={
                "apps/edge/limits.yaml": [
                    "-  requestsPerSecond: 120  # measured peak x1.5",
                    "+  requestsPerSecond: 60  # measured peak x1.5",
                ]
            },
            title=("kubectl apply", "ratelimit apply-ssa-ratelimit-multidoc/search by alice"),
        ),
        summary="the applied field, in the second document of the file",
    ),
    Case(
        id="rollout-pause-deployment-multidoc",
        kind="Deployment",
        layout="multidoc",
        app_path="apps/search",
        runs=single("rollout pause", "rollout", "pause", "deployment/search-api"),
        expect=Recorded(),
        summary="nothing: pausing a rollout is an operation",
    ),
    Case(
        id="delete-configmap-multidoc",
        kind="ConfigMap",
        layout="multidoc",
        app_path="apps/checkout",
        runs=single("delete", "delete", "configmap/checkout-legacy-flags"),
        expect=PullRequest(
            diff={
                "apps/checkout/checkout.yaml": [
                    "-# legacy flags, read by checkout < 1.4 only",
                    "-apiVersion: v1",
                    "-kind: ConfigMap",
                    "-metadata:",
                    "-  name: checkout-legacy-flags",
                    "-data:",
                    '-  USE_OLD_TAX: "false"',
                    "----",
                ]
            },
            title=("kubectl delete of configmap delete-configmap-multidoc/checkout-legacy-flags",),
        ),
        summary="exactly that document (and one `---`) removed from the file",
    ),
    # -- JSON manifests ------------------------------------------------------------------------
    Case(
        id="patch-strategic-deployment-json",
        kind="Deployment",
        layout="json",
        app_path="apps/checkout",
        runs=single(
            "patch (strategic)",
            "patch",
            "deployment/checkout",
            "-p",
            json.dumps(
                {
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {"name": "proxy", "image": "envoyproxy/envoy:v1.30.3"}
                                ]
                            }
                        }
                    }
                }
            ),
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/deployment.json": [
                    '-            "image": "envoyproxy/envoy:v1.30.2"',
                    '+            "image": "envoyproxy/envoy:v1.30.3"',
                ]
            },
            title=("kubectl patch of deployment patch-strategic-deployment-json/checkout",),
        ),
        summary="one line of the JSON file; its layout stays",
    ),
    Case(
        id="patch-merge-configmap-json",
        kind="ConfigMap",
        layout="json",
        app_path="apps/checkout",
        runs=single(
            "patch (merge)",
            "patch",
            "configmap/checkout-config",
            "--type=merge",
            "-p",
            '{"data":{"TIMEOUT":"60"}}',
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/configmap.json": [
                    '-        "TIMEOUT": "30",',
                    '+        "TIMEOUT": "60",',
                ]
            },
            title=("kubectl patch of configmap patch-merge-configmap-json/checkout-config",),
        ),
        summary="one line of a 4-space-indented JSON file",
    ),
    Case(
        id="set-serviceaccount-deployment-json",
        kind="Deployment",
        layout="json",
        app_path="apps/checkout",
        runs=single(
            "set serviceaccount",
            "set",
            "serviceaccount",
            "deployment/checkout",
            "checkout-psp-v2",
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/deployment.json": [
                    '-        "serviceAccountName": "checkout",',
                    '+        "serviceAccountName": "checkout-psp-v2",',
                ]
            },
            title=(
                "kubectl set serviceaccount of deployment "
                "set-serviceaccount-deployment-json/checkout",
            ),
        ),
        summary="`serviceAccountName` edited; the deprecated `serviceAccount` the API server "
        "mirrors stays out",
    ),
    Case(
        id="delete-pdb-json",
        kind="PodDisruptionBudget",
        layout="json",
        app_path="apps/checkout",
        runs=single("delete", "delete", "pdb/checkout"),
        expect=PullRequest(
            diff={"apps/checkout/pdb.json": deleted("delete-pdb-json", "apps/checkout/pdb.json")},
            title=("kubectl delete of poddisruptionbudget delete-pdb-json/checkout by alice",),
        ),
        summary="the file deleted",
    ),
    Case(
        id="scale-back-to-git-deployment-json",
        kind="Deployment",
        layout="json",
        app_path="apps/checkout",
        runs=(
            (Run("scale", ("scale", "deployment/checkout", "--replicas=5")),),
            (Run("scale", ("scale", "deployment/checkout", "--replicas=3"), user="bob"),),
        ),
        expect=Withdrawn(),
        summary="alice's pull request is closed as withdrawn when bob scales back to Git's value",
    ),
    Case(
        id="rollout-pause-resume-deployment-json",
        kind="Deployment",
        layout="json",
        app_path="apps/checkout",
        runs=(
            (
                Run("rollout pause", ("rollout", "pause", "deployment/checkout")),
                Run("rollout resume", ("rollout", "resume", "deployment/checkout")),
            ),
        ),
        expect=Recorded(),
        summary="nothing: pausing and resuming are operations",
    ),
    Case(
        id="annotate-service-json",
        kind="Service",
        layout="json",
        app_path="apps/checkout",
        runs=single(
            "annotate",
            "annotate",
            "service/checkout",
            "service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout=300",
            "team.example/dashboard-",
            "--overwrite",
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/service.json": [
                    '-            "service.beta.kubernetes.io/aws-load-balancer-connection-idle-'
                    'timeout": "60",',
                    '-            "external-dns.alpha.kubernetes.io/hostname": '
                    '"checkout.example.com",',
                    '-            "team.example/dashboard": "https://grafana.example.com/d/checkout"',
                    '+            "service.beta.kubernetes.io/aws-load-balancer-connection-idle-'
                    'timeout": "300",',
                    '+            "external-dns.alpha.kubernetes.io/hostname": '
                    '"checkout.example.com"',
                ]
            },
            title=("kubectl annotate of service annotate-service-json/checkout by alice",),
        ),
        summary="a changed annotation edited, a removed one deleted (the JSON comma moves)",
    ),
    Case(
        id="apply-deployment-json",
        kind="Deployment",
        layout="json",
        app_path="apps/checkout",
        runs=single("apply", "apply", file="deployment.json"),
        expect=PullRequest(
            diff={
                "apps/checkout/deployment.json": [
                    '-                "value": "20s"',
                    '+                "value": "45s"',
                ]
            },
            title=("kubectl apply of deployment apply-deployment-json/checkout by alice",),
        ),
        summary="the env value that differs between the applied file and the live object",
    ),
    # -- kustomize -----------------------------------------------------------------------------
    Case(
        id="scale-deployment-kustomize",
        kind="Deployment",
        layout="kustomize",
        app_path="apps/checkout/overlays/prod",
        runs=single("scale", "scale", "deployment/checkout", "--replicas=6"),
        expect=PullRequest(
            diff={
                "apps/checkout/overlays/prod/kustomization.yaml": [
                    "-    count: 3  # one per zone",
                    "+    count: 6  # one per zone",
                ]
            },
            title=(
                "kubectl scale of deployment scale-deployment-kustomize/checkout by alice "
                "(3 → 6 replicas)",
            ),
        ),
        summary="the overlay's `replicas:` entry; the shared base stays",
    ),
    Case(
        id="set-image-deployment-kustomize",
        kind="Deployment",
        layout="kustomize",
        app_path="apps/checkout/overlays/prod",
        runs=single(
            "set image",
            "set",
            "image",
            "deployment/checkout",
            "app=registry.example/checkout:1.4.3",
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/overlays/prod/kustomization.yaml": [
                    '-    newTag: "1.4.2"  # bumped by the release pipeline',
                    '+    newTag: "1.4.3"  # bumped by the release pipeline',
                ]
            },
            title=("kubectl set image of deployment set-image-deployment-kustomize/checkout",),
        ),
        summary="the overlay's `images:` `newTag`, quotes and comment kept",
    ),
    Case(
        id="rollout-undo-deployment-kustomize",
        kind="Deployment",
        layout="kustomize",
        app_path="apps/checkout/overlays/prod",
        syncs=((("checkout:1.5.0", "checkout:1.4.2"),), ()),
        history=("checkout",),
        runs=single("rollout undo", "rollout", "undo", "deployment/checkout"),
        expect=PullRequest(
            diff={
                "apps/checkout/overlays/prod/kustomization.yaml": [
                    '-    newTag: "1.5.0"  # bumped by the release pipeline',
                    '+    newTag: "1.4.2"  # bumped by the release pipeline',
                ]
            },
            title=(
                "kubectl rollout undo of deployment rollout-undo-deployment-kustomize/checkout",
            ),
        ),
        summary="a release rolled back: the overlay's `newTag` goes back to the previous one",
    ),
    Case(
        id="patch-json-replace-hpa-kustomize",
        kind="HorizontalPodAutoscaler",
        layout="kustomize",
        app_path="apps/checkout/overlays/prod",
        runs=single(
            "patch (JSON: replace)",
            "patch",
            "hpa/checkout",
            "--type=json",
            "-p",
            patch_json({"op": "replace", "path": "/spec/maxReplicas", "value": 24}),
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/overlays/prod/hpa-limits.yaml": [
                    "-  maxReplicas: 20  # the node pool fits 24",
                    "+  maxReplicas: 24  # the node pool fits 24",
                ]
            },
            title=("kubectl patch of horizontalpodautoscaler",),
        ),
        summary="the overlay's patch that sets the field, not the base",
    ),
    Case(
        id="patch-strategic-statefulset-kustomize",
        kind="StatefulSet",
        layout="kustomize",
        app_path="apps/ledger/overlays/prod",
        runs=single(
            "patch (strategic)",
            "patch",
            "statefulset/ledger",
            "-p",
            json.dumps(
                {
                    "spec": {
                        "template": {
                            "spec": {
                                "containers": [
                                    {
                                        "name": "ledger",
                                        "env": [{"name": "GC_LOG", "value": "verbose"}],
                                    }
                                ]
                            }
                        }
                    }
                }
            ),
        ),
        expect=PullRequest(
            diff={
                "apps/ledger/overlays/prod/kustomization.yaml": [
                    "+patches:",
                    "+  - path: ledger-statefulset-patch.yaml",
                ],
                "apps/ledger/overlays/prod/ledger-statefulset-patch.yaml": [
                    "+apiVersion: apps/v1",
                    "+kind: StatefulSet",
                    "+metadata:",
                    "+  name: ledger",
                    "+spec:",
                    "+  template:",
                    "+    spec:",
                    "+      containers:",
                    "+        - name: ledger",
                    "+          env:",
                    "+            - name: GC_LOG",
                    "+              value: verbose",
                ],
            },
            title=("kubectl patch of statefulset patch-strategic-statefulset-kustomize/ledger",),
        ),
        summary="the base is shared with staging, so a new strategic-merge patch in the "
        "overlay, listed in its `patches:`",
    ),
    Case(
        id="patch-generated-configmap-kustomize",
        kind="ConfigMap",
        layout="kustomize",
        app_path="apps/storefront",
        runs=single(
            "patch (merge)",
            "patch",
            "configmap/storefront-config-k5bgm7t69f",
            "--type=merge",
            "-p",
            '{"data":{"CATALOGUE_TIMEOUT":"60"}}',
        ),
        expect=PullRequest(
            diff={
                "apps/storefront/kustomization.yaml": [
                    "-      - CATALOGUE_TIMEOUT=30",
                    "+      - CATALOGUE_TIMEOUT=60",
                ]
            },
            title=("kubectl patch of configmap patch-generated-configmap-kustomize/",),
            body=("kustomize now names the generated object storefront-config-k5bgm7t69f as",),
        ),
        summary="the `configMapGenerator` literal; the render check follows the ConfigMap's "
        "new hashed name and the Deployment that refers to it, and the PR names both",
    ),
    Case(
        id="set-resources-deployment-kustomize",
        kind="Deployment",
        layout="kustomize",
        app_path="apps/search/overlays/prod",
        runs=single(
            "set resources",
            "set",
            "resources",
            "deployment/search",
            "-c",
            "app",
            "--limits=memory=3Gi",
        ),
        expect=PullRequest(
            diff={
                "apps/search/components/high-memory/memory-patch.yaml": [
                    "-              memory: 2Gi  # index is 1.4Gi",
                    "+              memory: 3Gi  # index is 1.4Gi",
                ]
            },
            title=(
                "kubectl set resources of deployment set-resources-deployment-kustomize/search",
            ),
        ),
        summary="the patch of the component that sets the value (only this overlay uses it)",
    ),
    Case(
        id="delete-networkpolicy-kustomize",
        kind="NetworkPolicy",
        layout="kustomize",
        app_path="apps/checkout-lockdown",
        runs=single("delete", "delete", "networkpolicy/deny-egress"),
        expect=PullRequest(
            diff={
                "apps/checkout-lockdown/deny-egress.yaml": deleted(
                    "delete-networkpolicy-kustomize", "apps/checkout-lockdown/deny-egress.yaml"
                ),
                "apps/checkout-lockdown/kustomization.yaml": [
                    "-resources:",
                    "-  - deny-egress.yaml",
                ],
            },
            title=("kubectl delete of networkpolicy delete-networkpolicy-kustomize/deny-egress",),
        ),
        summary="the only resource of the kustomization: its file and its `resources:` entry "
        "removed",
    ),
    Case(
        id="create-configmap-kustomize",
        kind="ConfigMap",
        layout="kustomize",
        app_path="apps/checkout",
        owner="rule",
        runs=single(
            "create",
            "create",
            "configmap",
            "checkout-flags",
            "--from-literal=NEW_TAX_ENGINE=on",
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/checkout-flags-configmap.yaml": [
                    "+apiVersion: v1",
                    "+kind: ConfigMap",
                    "+metadata:",
                    "+  name: checkout-flags",
                    "+data:",
                    '+  NEW_TAX_ENGINE: "on"',
                ],
                "apps/checkout/kustomization.yaml": ["+  - checkout-flags-configmap.yaml"],
            },
            title=("kubectl create of configmap create-configmap-kustomize/checkout-flags",),
        ),
        summary='a new file named like its siblings, listed in `resources:`; `"on"` stays a '
        "string; the owner is a repository rule",
    ),
    Case(
        id="annotate-ingress-kustomize",
        kind="Ingress",
        layout="kustomize",
        app_path="apps/shop",
        runs=single(
            "annotate",
            "annotate",
            "ingress/shop",
            "nginx.ingress.kubernetes.io/proxy-read-timeout=120",
            "nginx.ingress.kubernetes.io/proxy-body-size=64m",
            "--overwrite",
        ),
        expect=PullRequest(
            diff={
                "apps/shop/ingress.yaml": [
                    "-    nginx.ingress.kubernetes.io/proxy-body-size: 8m",
                    "+    nginx.ingress.kubernetes.io/proxy-body-size: 64m",
                    '+    nginx.ingress.kubernetes.io/proxy-read-timeout: "120"',
                ]
            },
            title=("kubectl annotate of ingress annotate-ingress-kustomize/shop by alice",),
        ),
        summary='a changed annotation edited, a new one added with `"120"` quoted, in the '
        "kustomization's only resource",
    ),
    Case(
        id="rollout-restart-deployment-kustomize",
        kind="Deployment",
        layout="kustomize",
        app_path="apps/checkout/overlays/prod",
        runs=single("rollout restart", "rollout", "restart", "deployment/checkout"),
        expect=Recorded(),
        summary="nothing: a restart is an operation",
    ),
    Case(
        id="two-people-deployment-kustomize",
        kind="Deployment",
        layout="kustomize",
        app_path="apps/checkout/overlays/prod",
        runs=(
            (Run("scale", ("scale", "deployment/checkout", "--replicas=4")),),
            (
                Run(
                    "set image",
                    ("set", "image", "deployment/checkout", "app=registry.example/checkout:1.4.3"),
                    user="bob",
                ),
            ),
        ),
        expect=PullRequest(
            diff={
                "apps/checkout/overlays/prod/kustomization.yaml": [
                    "-    newTag: '1.4.2'",
                    "+    newTag: '1.4.3'",
                    "-    count: 2",
                    "+    count: 4",
                ]
            },
            title=("alice", "bob"),
            lines=(("alice", "kubectl scale"), ("bob", "kubectl set image")),
            assignees=("alice-doe",),
            commits=(ALICE, BOB),
            comments=((("bob", "+    newTag: '1.4.3'"), ("-    count: 2", "+    count: 4")),),
        ),
        summary="one pull request with a commit per person; each change in the overlay "
        "(`replicas:`, `images:` with its single quotes)",
    ),
    Case(
        id="set-serviceaccount-daemonset-kustomize",
        kind="DaemonSet",
        layout="kustomize",
        app_path="apps/log-shipper",
        runs=single(
            "set serviceaccount",
            "set",
            "serviceaccount",
            "daemonset/log-shipper",
            "log-reader",
        ),
        expect=PullRequest(
            diff={"apps/log-shipper/daemonset.yaml": ["+      serviceAccountName: log-reader"]},
            title=(
                "kubectl set serviceaccount of daemonset "
                "set-serviceaccount-daemonset-kustomize/log-shipper",
            ),
        ),
        summary="`serviceAccountName` added to the pod template (not the deprecated "
        "`serviceAccount`)",
    ),
    # -- Helm ----------------------------------------------------------------------------------
    Case(
        id="scale-statefulset-helm",
        kind="StatefulSet",
        layout="helm",
        helm_app="argocd/scale-statefulset-helm.yaml",
        runs=single("scale", "scale", "statefulset/ledger", "--replicas=5"),
        expect=PullRequest(
            diff={
                "charts/ledger/values-prod.yaml": [
                    "-replicaCount: 3   # must stay odd",
                    "+replicaCount: 5   # must stay odd",
                ]
            },
            title=(
                "kubectl scale of statefulset scale-statefulset-helm/ledger by alice "
                "(3 → 5 replicas)",
            ),
        ),
        summary="`replicaCount` in the values file that sets it (`valueFiles`)",
    ),
    Case(
        id="set-image-deployment-helm",
        kind="Deployment",
        layout="helm",
        helm_app="argocd/set-image-deployment-helm.yaml",
        runs=single(
            "set image", "set", "image", "deployment/web", "web=registry.example/web:2.3.2"
        ),
        expect=PullRequest(
            diff={"charts/web/values-prod.yaml": ['-  tag: "2.3.1"', '+  tag: "2.3.2"']},
            title=("kubectl set image of deployment set-image-deployment-helm/web",),
        ),
        summary="`image.tag` in the values file that overrides the chart's",
    ),
    Case(
        id="set-resources-deployment-helm",
        kind="Deployment",
        layout="helm",
        helm_app="argocd/set-resources-deployment-helm.yaml",
        runs=single(
            "set resources",
            "set",
            "resources",
            "deployment/web",
            "-c",
            "web",
            "--limits=memory=512Mi",
        ),
        expect=PullRequest(
            diff={
                "charts/web/values.yaml": [
                    "-    memory: 256Mi   # raise together with the JVM heap",
                    "+    memory: 512Mi   # raise together with the JVM heap",
                ]
            },
            title=("kubectl set resources of deployment set-resources-deployment-helm/web",),
        ),
        summary="`resources.limits.memory` in the chart's own `values.yaml`",
    ),
    Case(
        id="set-env-deployment-helm",
        kind="Deployment",
        layout="helm",
        helm_app="argocd/set-env-deployment-helm.yaml",
        runs=single("set env", "set", "env", "deployment/web", "SQL_DEBUG=1"),
        expect=Issue(title=("kubectl set env", "needs a human"), body=("SQL_DEBUG",)),
        summary="nothing written: without rendering the chart, which value makes an env var is "
        "unknown",
    ),
    Case(
        id="apply-ssa-deployment-helm",
        kind="Deployment",
        layout="helm",
        helm_app="argocd/apply-ssa-deployment-helm.yaml",
        runs=single(
            "apply --server-side",
            "apply",
            "--server-side",
            "--field-manager=alice-hotfix",
            "--force-conflicts",
            file="hotfix.yaml",
        ),
        expect=PullRequest(
            diff={
                "charts/web/values-prod.yaml": [
                    "-    memory: 1Gi  # the production catalogue is bigger",
                    "+    memory: 1536Mi  # the production catalogue is bigger",
                ]
            },
            title=("kubectl apply", "deployment apply-ssa-deployment-helm/web by alice"),
        ),
        summary="`resources.limits.memory` where it is set: the values file above the chart's",
    ),
    Case(
        id="rollout-pause-resume-deployment-helm",
        kind="Deployment",
        layout="helm",
        helm_app="argocd/rollout-pause-resume-deployment-helm.yaml",
        runs=(
            (
                Run("rollout pause", ("rollout", "pause", "deployment/web")),
                Run("rollout resume", ("rollout", "resume", "deployment/web")),
            ),
        ),
        expect=Recorded(),
        summary="nothing: pausing and resuming are operations",
    ),
)

# -- checking ----------------------------------------------------------------------------------


@dataclass
class Observed:
    """What the batch saw for one case."""

    case: Case
    captures: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # pull requests and issues
    diffs: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # branch → file → lines
    commits: dict[str, list[str]] = field(default_factory=dict)  # branch → authors
    errors: list[str] = field(default_factory=list)  # kubectl or set-up failures
    output: list[str] = field(default_factory=list)  # what kubectl printed
    warnings: list[str] = field(default_factory=list)  # breakglass's line, per command
    log: list[str] = field(default_factory=list)  # breakglass's warnings about its captures

    def pulls(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("kind", "pull") == "pull"]

    def issues(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("kind") == "issue"]

    def statuses(self) -> list[str]:
        return [c["status"] for c in self.captures]

    def summary(self) -> str:
        """A short description of the actual outcome, for the printed table."""
        if self.errors:
            return "error: " + self.errors[0].splitlines()[0][:80]
        parts = []
        for record in self.records:
            kind = record.get("kind", "pull")
            diff = self.diffs.get(record.get("branch", ""), {})
            size = sum(len(lines) for lines in diff.values())
            text = f"{kind} #{record['number']} {record['state']}"
            if kind == "pull":
                text += f", {size} changed lines"
            parts.append(text)
        statuses = ",".join(dict.fromkeys(self.statuses())) or "no capture"
        return "; ".join([*parts, statuses])


def changed_lines(diff: str) -> dict[str, list[str]]:
    """``git diff`` output as file → its ``+``/``-`` lines, in order."""
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_header = False
    for line in diff.splitlines():
        match = re.match(r"diff --git a/(.*) b/(.*)$", line)
        if match:
            current = files.setdefault(match.group(2), [])
            in_header = True
        elif line.startswith("@@"):
            in_header = False
        elif current is not None and not in_header and line[:1] in "+-":
            current.append(line)
    return {path: lines for path, lines in files.items() if lines}


def check(case: Case, seen: Observed) -> list[str]:
    """Every way ``seen`` differs from what ``case`` expects (empty: it is right)."""
    problems = list(seen.errors)
    runs = sum(len(phase) for phase in case.runs)
    if len(seen.captures) < runs:
        problems.append(f"expected a capture per kubectl command ({runs}), saw {seen.statuses()}")
    problems += _check(case.expect, seen)
    problems += _check_warnings(case.expect, seen)
    return problems


def _check_warnings(expect: Outcome, seen: Observed) -> list[str]:
    """What kubectl told the engineer must not contradict what happens next."""
    problems = []
    for warning in seen.warnings:
        if isinstance(expect, PullRequest | Withdrawn) and "no PR" in warning:
            problems.append(f"kubectl said no pull request would follow: {warning}")
        if isinstance(expect, Recorded) and "no backfill PR" not in warning:
            problems.append(f"kubectl did not say this is only recorded: {warning}")
    return problems


def _check(expect: Outcome, seen: Observed) -> list[str]:
    checker: Callable[[Any, Observed], list[str]] = {
        PullRequest: _check_pull,
        Issue: _check_issue,
        Recorded: _check_recorded,
        NoPullRequest: _check_none,
        Withdrawn: _check_withdrawn,
    }[type(expect)]
    return checker(expect, seen)


def _one_pull(seen: Observed) -> tuple[dict[str, Any] | None, list[str]]:
    pulls = seen.pulls()
    if len(pulls) != 1:
        return None, [f"expected one pull request, found {len(pulls)}"]
    return pulls[0], []


def _check_pull(expect: PullRequest, seen: Observed) -> list[str]:
    problems = []
    record, found = _one_pull(seen)
    if record is None:
        return found + _statuses(seen)
    if seen.issues():
        problems.append(f"unexpected issue: {seen.issues()[0]['title']}")
    if record["state"] != "open":
        problems.append(f"pull request is {record['state']}, expected open")
    bad = [c["status"] for c in seen.captures if c["status"] != "pr_open"]
    if bad:
        problems.append(f"captures should all be pr_open: {_statuses(seen)}")
    diff = seen.diffs.get(record["branch"], {})
    wanted = {path: list(lines) for path, lines in expect.diff.items()}
    if diff != wanted:
        problems.append(f"diff differs:\n  expected {wanted}\n  actual   {diff}")
    for text in expect.title:
        if text not in record["title"]:
            problems.append(f"title lacks {text!r}: {record['title']!r}")
    for text in expect.body:
        if text not in record["body"]:
            problems.append(f"body lacks {text!r}")
    body_lines = record["body"].splitlines()
    for words in expect.lines:
        if not any(all(w in line for w in words) for line in body_lines):
            problems.append(f"no line of the body holds all of {list(words)}")
    for who in expect.assignees:
        if who not in record.get("assignees", []):
            problems.append(f"{who} is not assigned: {record.get('assignees')}")
    authors = seen.commits.get(record["branch"], [])
    if list(expect.commits) != authors:
        problems.append(f"commits by {authors}, expected {list(expect.commits)}")
    comments = [c["body"] for c in record.get("comments", [])]
    if len(comments) != len(expect.comments):
        problems.append(f"{len(comments)} comments, expected {len(expect.comments)}")
    for body, (has, lacks) in zip(comments, expect.comments, strict=False):
        problems += [f"comment lacks {t!r}" for t in has if t not in body]
        problems += [f"comment holds {t!r}" for t in lacks if t in body]
    if SELF_HEALED in record.get("labels", []):
        problems.append(f"labelled {SELF_HEALED}")
    problems += _never(expect.never, seen)
    return problems


def _check_issue(expect: Issue, seen: Observed) -> list[str]:
    problems = []
    if seen.pulls():
        problems.append(f"unexpected pull request: {seen.pulls()[0]['title']}")
    issues = seen.issues()
    if len(issues) != 1:
        return [*problems, f"expected one issue, found {len(issues)}", *_statuses(seen)]
    issue = issues[0]
    for text in expect.title:
        if text not in issue["title"]:
            problems.append(f"issue title lacks {text!r}: {issue['title']!r}")
    for text in expect.body:
        if text not in issue["body"]:
            problems.append(f"issue body lacks {text!r}")
    lines = issue["body"].splitlines()
    for key, how in expect.keys.items():
        if not any(key in line and how in line for line in lines):
            problems.append(f"issue does not say that {key} was {how}")
    problems += _never(expect.never, seen)
    return problems


def _check_recorded(expect: Recorded, seen: Observed) -> list[str]:
    problems = []
    if seen.records:
        problems.append(f"unexpected {seen.records[0].get('kind')}: {seen.records[0]['title']}")
    if any(c["status"] != "ignored" for c in seen.captures):
        problems.append(f"captures should all be ignored: {_statuses(seen)}")
    return problems


def _check_none(expect: NoPullRequest, seen: Observed) -> list[str]:
    problems = []
    if seen.records:
        problems.append(f"unexpected {seen.records[0].get('kind')}: {seen.records[0]['title']}")
    for c in seen.captures:
        if c["status"] != expect.status or expect.reason not in (c.get("reason") or ""):
            problems.append(f"captures should be {expect.status}: {_statuses(seen)}")
            break
    return problems


def _check_withdrawn(expect: Withdrawn, seen: Observed) -> list[str]:
    problems = []
    record, found = _one_pull(seen)
    if record is None:
        return found + _statuses(seen)
    if record["state"] != "closed" or record.get("closed_by") != "breakglass":
        problems.append(f"pull request is {record['state']} (by {record.get('closed_by')})")
    if any(c["status"] != "closed" for c in seen.captures):
        problems.append(f"captures should all be closed: {_statuses(seen)}")
    if SELF_HEALED in record.get("labels", []):
        problems.append(f"labelled {SELF_HEALED}, but a person reverted it, not a sync")
    if seen.diffs.get(record["branch"]):
        problems.append(f"the branch still differs from main: {seen.diffs[record['branch']]}")
    return problems


def _statuses(seen: Observed) -> list[str]:
    return [
        f"capture {c['id']} {c['status']}" + (f" ({c['reason']})" if c.get("reason") else "")
        for c in seen.captures
    ]


def _never(texts: Sequence[str], seen: Observed) -> list[str]:
    blob = json.dumps(seen.records) + json.dumps(seen.diffs)
    return [f"{text!r} appears in the forge record or the diff" for text in texts if text in blob]


# -- the reference table -----------------------------------------------------------------------


#: The order verbs are listed in the reference table.
VERB_ORDER = (
    "edit",
    "patch",
    "apply",
    "apply --server-side",
    "replace",
    "scale",
    "set image",
    "set env",
    "set resources",
    "set serviceaccount",
    "label",
    "annotate",
    "rollout undo",
    "rollout restart",
    "rollout pause",
    "rollout resume",
    "create",
    "delete",
)


def _verb_cell(verb: str) -> str:
    head, _, rest = verb.partition(" (")
    return f"`kubectl {head}`" + (f" ({rest}" if rest else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rank(case: Case) -> tuple[int, int, str]:
    first = case.runs[0][0].verb.partition(" (")[0]
    return (VERB_ORDER.index(first), list(LAYOUTS).index(case.layout), case.id)


def supported_operations_table(cases: Sequence[Case] = CASES) -> str:
    """The Markdown table of docs/supported-operations.md: one row per case, by verb."""
    rows = [
        "| kubectl | kind | layout | outcome | what happens in Git | case |",
        "|---|---|---|---|---|---|",
    ]
    for case in sorted(cases, key=_rank):
        verbs = dict.fromkeys(run.verb for phase in case.runs for run in phase)
        who = " then ".join(
            f"{', '.join(_verb_cell(r.verb) for r in phase)} by {phase[0].user}"
            for phase in case.runs
        )
        if len(case.runs) == 1 and len(case.people) == 1:
            who = ", ".join(_verb_cell(v) for v in verbs)
        rows.append(
            "| "
            + " | ".join(
                _cell(text)
                for text in (
                    who,
                    case.kind,
                    LAYOUTS[case.layout],
                    case.expect.describe(),
                    case.summary,
                    f"`{case.id}`",
                )
            )
            + " |"
        )
    return "\n".join(rows) + "\n"


def documented_table(text: str) -> str:
    """The table between the markers of docs/supported-operations.md."""
    return text.split(DOC_BEGIN, 1)[1].split(DOC_END, 1)[0]


def write_doc() -> None:
    """Put the table generated from ``CASES`` into docs/supported-operations.md."""
    text = DOC.read_text()
    head, rest = text.split(DOC_BEGIN, 1)
    tail = rest.split(DOC_END, 1)[1]
    DOC.write_text(head + DOC_BEGIN + supported_operations_table() + DOC_END + tail)


if __name__ == "__main__":
    write_doc()
