"""Settings: one YAML file plus environment variables for secrets, validated into frozen values.

Operators edit one file; secrets (bearer tokens, HMAC keys, forge tokens) never go in it, only
the *name* of the environment variable that holds them (``*_env`` keys).  Loading collects
every problem before failing, and each problem names the key path, the value found and what is
allowed, so ``breakglass config check FILE`` can print them all at once.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from breakglass.errors import ConfigError, ConfigProblem
from breakglass.urls import SQLITE_PREFIX, is_postgresql, postgresql_problems, redact_url

DEFAULT_IGNORED_USERS: Final = ("system:*",)
DEFAULT_IGNORED_GROUPS: Final = ("system:nodes", "system:serviceaccounts:kube-system")
DEFAULT_RECORD_ONLY: Final = ("rollout-restart", "rollout-pause", "hpa-replicas")
KNOWN_OPERATIONS: Final = frozenset(DEFAULT_RECORD_ONLY)
MAX_BODY_DEFAULT: Final = 3 * 1024 * 1024
AUDIT_LOG_MAX_BYTES_DEFAULT: Final = 64 * 1024 * 1024
_SECRET_KEY_NAMES: Final = re.compile(r"(^|_)(token|password|secret|hmac_key|private_key)$")
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALL_INTERFACES: Final = "0.0.0.0"  # noqa: S104 - listeners must be reachable from the cluster


@dataclass(frozen=True)
class ListenSettings:
    host: str = "0.0.0.0"  # noqa: S104 - a webhook must be reachable by the API server
    port: int = 8443


@dataclass(frozen=True)
class TLSSettings:
    """Serving certificate; without files a self-signed pair is generated under ``state_dir``."""

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    reload_interval: float = 10.0


@dataclass(frozen=True)
class AuditWebhookSettings:
    enabled: bool = True
    token_env: str = "BREAKGLASS_AUDIT_TOKEN"  # noqa: S105 - a variable name, not a token


@dataclass(frozen=True)
class AdmissionSettings:
    mode: str = "observe"
    require_client_cert: bool = False
    #: /validate answers within this many seconds whatever happens (a slow journal, a slow
    #: audit log): kept well under the webhook's timeoutSeconds, so kubectl never waits on us
    deadline_seconds: float = 1.0


@dataclass(frozen=True)
class ActorSettings:
    ignore_users: tuple[str, ...] = DEFAULT_IGNORED_USERS
    ignore_groups: tuple[str, ...] = DEFAULT_IGNORED_GROUPS

    def is_ignored(self, username: str, groups: tuple[str, ...]) -> bool:
        """Whether changes by this identity are automation, not a human's manual edit."""
        if any(fnmatch.fnmatchcase(username, p) for p in self.ignore_users):
            return True
        return any(fnmatch.fnmatchcase(g, p) for g in groups for p in self.ignore_groups)


@dataclass(frozen=True)
class RedactionSettings:
    salt_env: str = "BREAKGLASS_REDACTION_SALT"
    extra_key_patterns: tuple[str, ...] = ("*_TOKEN", "*_PASSWORD", "*_SECRET", "*_API_KEY")


@dataclass(frozen=True)
class AuditLogSettings:
    """The tamper-evident audit log: where it lives, its HMAC key, and when files rotate.

    The key comes from the environment variable ``key_env`` or, if that is unset, from the
    mounted file ``key_file``; ``breakglass serve`` generates a key file in ``state_dir`` when
    neither is configured, so the embedded default runs without set-up.
    """

    dir: Path = Path("./breakglass-state/audit")
    key_env: str = "BREAKGLASS_AUDIT_LOG_KEY"
    key_file: Path | None = None
    max_bytes: int = AUDIT_LOG_MAX_BYTES_DEFAULT
    rotate_daily: bool = True


@dataclass(frozen=True)
class MetricsSettings:
    """``listen`` set: ``/metrics`` moves to its own plain-HTTP listener at that address.

    ``worker_listen`` set: the backfill worker (its own process) serves its ``/metrics`` there;
    unset, the worker's metrics are not served (its logs still say everything it does).
    """

    listen: ListenSettings | None = None
    worker_listen: ListenSettings | None = None


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "info"
    format: str = "json"


@dataclass(frozen=True)
class UserIdentity:
    """How a Kubernetes username appears in Git and on the forge."""

    name: str
    email: str
    github: str | None = None
    gitlab: str | None = None


@dataclass(frozen=True)
class ForgeSettings:
    """One place backfill branches and pull requests go (``forges.<name>``)."""

    name: str = "local"
    kind: str = "local"
    repo: str = ""
    base_url: str | None = None
    token_env: str | None = None
    app_id: int | None = None
    installation_id: int | None = None
    private_key_file: Path | None = None
    records_dir: Path | None = None


@dataclass(frozen=True)
class RepoRuleSettings:
    url: str
    branch: str = "main"
    path: str = ""
    namespaces: tuple[str, ...] = ("*",)
    labels: tuple[tuple[str, str], ...] = ()
    forge: str | None = None


@dataclass(frozen=True)
class KubeSettings:
    """How the worker reads the cluster: ``auto`` uses the in-cluster account when present."""

    mode: str = "auto"
    kubeconfig: Path | None = None
    context: str | None = None
    argocd_namespace: str = "argocd"


@dataclass(frozen=True)
class BackfillSettings:
    enabled: bool = True
    interval: float = 2.0
    grace_seconds: float = 3.0
    confirm_timeout: float = 120.0
    pr_poll_interval: float = 60.0
    labels: tuple[str, ...] = ("breakglass",)
    reviewers: tuple[str, ...] = ()
    draft: bool = False
    branch_prefix: str = "breakglass"
    committer: UserIdentity = UserIdentity("breakglass", "breakglass@users.noreply.invalid")
    forge: str = "local"
    max_attempts: int = 8  # ignored since retry_deadline_hours; still accepted in files
    #: how long temporary failures (network, forge outages, rate limits) are retried before a
    #: capture is ``failed``; each retry waits at least what the forge asked (Retry-After)
    retry_deadline_hours: float = 24.0
    sops_binary: str | None = None  # else $BREAKGLASS_SOPS, else sops on PATH
    kustomize_binary: str | None = None  # else $BREAKGLASS_KUSTOMIZE, else kustomize on PATH
    helm_binary: str | None = None  # else $BREAKGLASS_HELM, else helm on PATH
    #: prove each branch by rendering it before a PR is opened: ``required`` (no render, no
    #: PR), ``auto`` (a missing kustomize/helm binary is said in the PR instead), ``off``
    render_check: str = "auto"
    #: the worker process's CPU niceness (0-19): under load the kernel gives the webhook's
    #: process the CPU first, so backfill work does not slow admission down
    nice: int = 10


@dataclass(frozen=True)
class Settings:
    """Everything ``breakglass serve`` and the worker need, validated."""

    cluster: str = "default"
    state_dir: Path = Path("./breakglass-state")
    listen: ListenSettings = field(default_factory=ListenSettings)
    tls: TLSSettings = field(default_factory=TLSSettings)
    journal_url: str = "sqlite:///./breakglass-state/journal.db"
    journal_password_env: str = "BREAKGLASS_JOURNAL_PASSWORD"  # noqa: S105 - a variable name
    audit_webhook: AuditWebhookSettings = field(default_factory=AuditWebhookSettings)
    admission: AdmissionSettings = field(default_factory=AdmissionSettings)
    actors: ActorSettings = field(default_factory=ActorSettings)
    record_only: tuple[str, ...] = DEFAULT_RECORD_ONLY
    redaction: RedactionSettings = field(default_factory=RedactionSettings)
    audit_log: AuditLogSettings = field(default_factory=AuditLogSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    max_body_bytes: int = MAX_BODY_DEFAULT
    backfill: BackfillSettings = field(default_factory=BackfillSettings)
    forges: tuple[ForgeSettings, ...] = (ForgeSettings(),)
    repos: tuple[RepoRuleSettings, ...] = ()
    users: tuple[tuple[str, UserIdentity], ...] = ()
    kube: KubeSettings = field(default_factory=KubeSettings)
    source: str = "<defaults>"

    def forge(self, name: str) -> ForgeSettings | None:
        return next((f for f in self.forges if f.name == name), None)

    def user(self, username: str) -> UserIdentity | None:
        return dict(self.users).get(username)

    def secret(self, env_name: str, environ: Mapping[str, str] | None = None) -> str | None:
        """The value of a secret-bearing environment variable, or ``None`` if unset/empty."""
        env = os.environ if environ is None else environ
        value = env.get(env_name, "")
        return value or None


class _Reader:
    """Walks a parsed YAML mapping, converting values and collecting problems by key path."""

    def __init__(self, data: Mapping[str, Any], base: Path) -> None:
        self.data = data
        self.base = base
        self.problems: list[ConfigProblem] = []
        self.seen: set[str] = set()

    def _lookup(self, path: str) -> tuple[bool, Any]:
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False, None
            node = node[part]
        self.seen.add(path)
        return True, node

    def problem(self, path: str, value: Any, allowed: str) -> None:
        self.problems.append(ConfigProblem(path, _show(value), allowed))

    def get(self, path: str, default: Any, convert: Callable[[Any], Any], allowed: str) -> Any:
        found, value = self._lookup(path)
        if not found or value is None:
            return default
        try:
            return convert(value)
        except (TypeError, ValueError):
            self.problem(path, value, allowed)
            return default

    def section(self, path: str) -> Mapping[str, Any]:
        found, value = self._lookup(path)
        if not found or value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, value, "must be a mapping")
            return {}
        return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(value)
    return value


def _as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


def _as_port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(value)
    return value


def _as_niceness(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 19:
        raise ValueError
    return value


def _as_positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(value)
    return value


def _as_positive_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(value)
    return float(value)


def _as_str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(value)
    return tuple(value)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in allowed:
            raise ValueError(value)
        return str(value)

    return convert


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ValueError(value)
    return value


def _journal_url(r: _Reader, key: str, default: str) -> str:
    """The journal URL at ``key``; a PostgreSQL URL is checked part by part, and shown in
    problems with any password masked."""
    found, value = r._lookup(key)
    if not found or value is None:
        return default
    if not isinstance(value, str):
        r.problem(key, value, _JOURNAL_ALLOWED)
        return default
    if value.startswith(SQLITE_PREFIX) and len(value) > len(SQLITE_PREFIX):
        return value
    if not is_postgresql(value):
        r.problem(key, redact_url(value), _JOURNAL_ALLOWED)
        return default
    for problem in postgresql_problems(value):
        r.problem(key, redact_url(value), problem)
    return value


def _check_no_inline_secrets(node: Any, path: str, reader: _Reader) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SECRET_KEY_NAMES.search(key) and value is not None:
                reader.problems.append(
                    ConfigProblem(
                        sub,
                        "<value hidden>",
                        f"secrets never go in the file: set `{key}_env` to the name of an "
                        "environment variable that holds it",
                    )
                )
            else:
                _check_no_inline_secrets(value, sub, reader)


_KNOWN_KEYS: Final = frozenset(
    {
        "cluster",
        "state_dir",
        "listen.host",
        "listen.port",
        "tls.cert_file",
        "tls.key_file",
        "tls.client_ca_file",
        "tls.reload_interval",
        "journal",
        "journal.url",
        "journal.password_env",
        "audit_webhook.enabled",
        "audit_webhook.token_env",
        "admission.mode",
        "admission.require_client_cert",
        "admission.deadline_seconds",
        "actors.ignore.users",
        "actors.ignore.groups",
        "capture.record_only",
        "redaction.salt_env",
        "redaction.extra_key_patterns",
        "audit_log.dir",
        "audit_log.key_env",
        "audit_log.key_file",
        "audit_log.max_bytes",
        "audit_log.rotate_daily",
        "metrics.listen.host",
        "metrics.listen.port",
        "metrics.worker_listen.host",
        "metrics.worker_listen.port",
        "logging.level",
        "logging.format",
        "backfill.enabled",
        "backfill.interval",
        "backfill.grace_seconds",
        "backfill.confirm_timeout",
        "backfill.pr_poll_interval",
        "backfill.labels",
        "backfill.reviewers",
        "backfill.draft",
        "backfill.branch_prefix",
        "backfill.committer.name",
        "backfill.committer.email",
        "backfill.forge",
        "backfill.max_attempts",
        "backfill.retry_deadline_hours",
        "backfill.sops_binary",
        "backfill.kustomize_binary",
        "backfill.helm_binary",
        "backfill.render_check",
        "backfill.nice",
        "forges",
        "repos",
        "users",
        "kube.mode",
        "kube.kubeconfig",
        "kube.context",
        "kube.argocd_namespace",
        "limits.max_body_bytes",
    }
)
_SECTIONS: Final = frozenset(
    {"listen", "tls", "audit_webhook", "admission", "actors", "actors.ignore", "capture"}
    | {"redaction", "logging", "limits", "audit_log", "metrics", "metrics.listen"}
    | {"metrics.worker_listen"}
    | {"backfill", "backfill.committer", "kube"}
)


def _unknown_keys(node: Any, path: str, reader: _Reader) -> None:
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        sub = f"{path}.{key}" if path else str(key)
        if sub in _SECTIONS or (sub == "journal" and isinstance(value, Mapping)):
            _unknown_keys(value, sub, reader)
        elif sub not in _KNOWN_KEYS and not _SECRET_KEY_NAMES.search(str(key)):
            reader.problem(sub, key, "unknown key; see the configuration reference in README.md")


_FORGE_KEYS: Final = frozenset(
    {
        "kind",
        "repo",
        "base_url",
        "token_env",
        "app_id",
        "installation_id",
        "private_key_file",
        "records_dir",
    }
)
_REPO_KEYS: Final = frozenset({"url", "branch", "path", "namespaces", "labels", "forge"})
_USER_KEYS: Final = frozenset({"name", "email", "github", "gitlab"})


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    return _as_positive_int(value)


def _backfill_part(
    r: _Reader, data: Mapping[str, Any], state_dir: Path, resolve: Callable[[Any], Path]
) -> dict[str, Any]:
    """The worker's settings: ``backfill``, ``forges``, ``repos``, ``users``, ``kube``."""
    backfill = BackfillSettings(
        enabled=r.get("backfill.enabled", True, _as_bool, "true or false"),
        interval=r.get("backfill.interval", 2.0, _as_positive_float, "seconds"),
        grace_seconds=r.get("backfill.grace_seconds", 3.0, _as_positive_float, "seconds"),
        confirm_timeout=r.get("backfill.confirm_timeout", 120.0, _as_positive_float, "seconds"),
        pr_poll_interval=r.get("backfill.pr_poll_interval", 60.0, _as_positive_float, "seconds"),
        labels=r.get("backfill.labels", ("breakglass",), _as_str_list, "a list of label names"),
        reviewers=r.get("backfill.reviewers", (), _as_str_list, "a list of forge handles"),
        draft=r.get("backfill.draft", False, _as_bool, "true or false"),
        branch_prefix=r.get("backfill.branch_prefix", "breakglass", _as_str, "a branch prefix"),
        committer=UserIdentity(
            name=r.get("backfill.committer.name", "breakglass", _as_str, "a name"),
            email=r.get(
                "backfill.committer.email",
                "breakglass@users.noreply.invalid",
                _as_str,
                "an email address",
            ),
        ),
        forge=r.get("backfill.forge", "local", _as_str, "a name from forges"),
        max_attempts=r.get("backfill.max_attempts", 8, _as_positive_int, "a positive count"),
        retry_deadline_hours=r.get(
            "backfill.retry_deadline_hours", 24.0, _as_positive_float, "a positive number of hours"
        ),
        sops_binary=r.get("backfill.sops_binary", None, _as_str, "a path to the sops binary"),
        kustomize_binary=r.get(
            "backfill.kustomize_binary", None, _as_str, "a path to the kustomize binary"
        ),
        helm_binary=r.get("backfill.helm_binary", None, _as_str, "a path to the helm binary"),
        render_check=r.get(
            "backfill.render_check",
            "auto",
            _choice("required", "auto", "off"),
            "required, auto or off",
        ),
        nice=r.get("backfill.nice", 10, _as_niceness, "an integer from 0 to 19"),
    )
    forges: list[ForgeSettings] = []
    raw_forges = data.get("forges") or {}
    if not isinstance(raw_forges, Mapping):
        r.problem("forges", raw_forges, "a mapping of forge name → settings")
        raw_forges = {}
    if "local" not in raw_forges:
        forges.append(ForgeSettings(records_dir=state_dir / "pull-requests"))
    for name, conf in raw_forges.items():
        where = f"forges.{name}"
        if not isinstance(conf, Mapping):
            r.problem(where, conf, "a mapping with at least `kind`")
            continue
        for key in conf:
            if key not in _FORGE_KEYS:
                r.problem(f"{where}.{key}", key, "one of " + ", ".join(sorted(_FORGE_KEYS)))
        kind = conf.get("kind", "local")
        if kind not in ("local", "github", "gitlab"):
            r.problem(f"{where}.kind", kind, "local, github or gitlab")
            continue
        repo = conf.get("repo", "")
        if kind != "local" and (not isinstance(repo, str) or "/" not in repo):
            r.problem(f"{where}.repo", repo, "owner/name (GitHub) or group/project (GitLab)")
        token_env = conf.get("token_env")
        if token_env is not None and (
            not isinstance(token_env, str) or not _ENV_NAME.match(token_env)
        ):
            r.problem(f"{where}.token_env", token_env, "an environment variable name")
        if kind != "local" and token_env is None and conf.get("app_id") is None:
            r.problem(
                where,
                "no credentials",
                "set token_env (or app_id, installation_id and private_key_file for a GitHub App)",
            )
        try:
            forges.append(
                ForgeSettings(
                    name=str(name),
                    kind=str(kind),
                    repo=str(repo or ""),
                    base_url=str(conf["base_url"]) if conf.get("base_url") else None,
                    token_env=token_env,
                    app_id=_optional_int(conf.get("app_id")),
                    installation_id=_optional_int(conf.get("installation_id")),
                    private_key_file=resolve(conf["private_key_file"])
                    if conf.get("private_key_file")
                    else None,
                    records_dir=resolve(conf["records_dir"])
                    if conf.get("records_dir")
                    else state_dir / "pull-requests",
                )
            )
        except (TypeError, ValueError):
            r.problem(where, conf, "app_id and installation_id are positive integers")
    if not any(f.name == backfill.forge for f in forges):
        r.problem("backfill.forge", backfill.forge, "the name of an entry in forges")
    repos: list[RepoRuleSettings] = []
    raw_repos = data.get("repos") or []
    if not isinstance(raw_repos, list):
        r.problem("repos", raw_repos, "a list of repository rules")
        raw_repos = []
    for i, rule in enumerate(raw_repos):
        where = f"repos[{i}]"
        if not isinstance(rule, Mapping) or not isinstance(rule.get("url"), str):
            r.problem(where, rule, "a mapping with at least `url`")
            continue
        for key in rule:
            if key not in _REPO_KEYS:
                r.problem(f"{where}.{key}", key, "one of " + ", ".join(sorted(_REPO_KEYS)))
        url = str(rule["url"])
        if "://" not in url and not url.startswith("git@"):
            url = str(resolve(url))
        namespaces = rule.get("namespaces", ["*"])
        labels = rule.get("labels") or {}
        if not isinstance(namespaces, list) or not all(isinstance(n, str) for n in namespaces):
            r.problem(f"{where}.namespaces", namespaces, _GLOB_LIST)
            namespaces = ["*"]
        if not isinstance(labels, Mapping):
            r.problem(f"{where}.labels", labels, "a mapping of label → value")
            labels = {}
        forge = rule.get("forge")
        if forge is not None and not any(f.name == forge for f in forges):
            r.problem(f"{where}.forge", forge, "the name of an entry in forges")
        repos.append(
            RepoRuleSettings(
                url=url,
                branch=str(rule.get("branch", "main")),
                path=str(rule.get("path", "")).strip("/"),
                namespaces=tuple(namespaces),
                labels=tuple((str(k), str(v)) for k, v in labels.items()),
                forge=str(forge) if forge else None,
            )
        )
    users: list[tuple[str, UserIdentity]] = []
    raw_users = data.get("users") or {}
    if not isinstance(raw_users, Mapping):
        r.problem("users", raw_users, "a mapping of Kubernetes username → identity")
        raw_users = {}
    for username, ident in raw_users.items():
        where = f"users.{username}"
        if not isinstance(ident, Mapping) or not isinstance(ident.get("email"), str):
            r.problem(where, ident, "a mapping with at least `email` (and name, github, gitlab)")
            continue
        for key in ident:
            if key not in _USER_KEYS:
                r.problem(f"{where}.{key}", key, "one of " + ", ".join(sorted(_USER_KEYS)))
        users.append(
            (
                str(username),
                UserIdentity(
                    name=str(ident.get("name") or username),
                    email=str(ident["email"]),
                    github=str(ident["github"]) if ident.get("github") else None,
                    gitlab=str(ident["gitlab"]) if ident.get("gitlab") else None,
                ),
            )
        )
    kube = KubeSettings(
        mode=r.get(
            "kube.mode",
            "auto",
            _choice("auto", "kubeconfig", "in-cluster", "off"),
            "auto, kubeconfig, in-cluster or off",
        ),
        kubeconfig=r.get("kube.kubeconfig", None, resolve, "a kubeconfig file path"),
        context=r.get("kube.context", None, _as_str, "a context name"),
        argocd_namespace=r.get("kube.argocd_namespace", "argocd", _as_str, "a namespace"),
    )
    return {
        "backfill": backfill,
        "forges": tuple(forges),
        "repos": tuple(repos),
        "users": tuple(users),
        "kube": kube,
    }


def from_mapping(data: Mapping[str, Any], *, source: str, base: Path) -> Settings:
    """Validate a parsed config mapping; raise ``ConfigError`` listing every problem."""
    r = _Reader(data, base)
    _check_no_inline_secrets(data, "", r)
    _unknown_keys(data, "", r)

    def path(value: Any) -> Path:
        p = Path(_as_str(value)).expanduser()
        return (p if p.is_absolute() else (base / p)).resolve()

    cluster = r.get("cluster", "default", _as_str, "a DNS label: lowercase letters, digits, '-'")
    if not _DNS_LABEL.match(cluster):
        r.problem("cluster", cluster, "a DNS label: lowercase letters, digits, '-'")
    state_dir = r.get("state_dir", base / "breakglass-state", path, "a directory path")
    listen = ListenSettings(
        host=r.get("listen.host", "0.0.0.0", _as_str, "an IP address or host name"),  # noqa: S104
        port=r.get("listen.port", 8443, _as_port, "an integer from 0 to 65535"),
    )
    tls = TLSSettings(
        cert_file=r.get("tls.cert_file", None, path, "a PEM certificate file path"),
        key_file=r.get("tls.key_file", None, path, "a PEM private key file path"),
        client_ca_file=r.get("tls.client_ca_file", None, path, "a PEM CA bundle path"),
        reload_interval=r.get(
            "tls.reload_interval", 10.0, _as_positive_float, "seconds, a positive number"
        ),
    )
    if (tls.cert_file is None) != (tls.key_file is None):
        r.problem(
            "tls",
            {"cert_file": str(tls.cert_file), "key_file": str(tls.key_file)},
            "set both cert_file and key_file, or neither (a self-signed pair is generated)",
        )
    for key, value in (
        ("tls.cert_file", tls.cert_file),
        ("tls.key_file", tls.key_file),
        ("tls.client_ca_file", tls.client_ca_file),
    ):
        if value is not None and not value.is_file():
            r.problem(key, str(value), "an existing, readable file")
    journal_raw = data.get("journal")
    default_journal = f"sqlite:///{state_dir / 'journal.db'}"
    journal_key = "journal.url" if isinstance(journal_raw, Mapping) else "journal"
    journal_url = _journal_url(r, journal_key, default_journal)
    journal_password_env = r.get(
        "journal.password_env",
        Settings.journal_password_env,
        _env_name,
        "an environment variable name (the password itself never goes in the file)",
    )
    if journal_url.startswith("sqlite:///"):
        db_path = Path(journal_url[len("sqlite:///") :])
        if not db_path.is_absolute():
            journal_url = f"sqlite:///{(base / db_path).resolve()}"
    audit = AuditWebhookSettings(
        enabled=r.get("audit_webhook.enabled", True, _as_bool, "true or false"),
        token_env=r.get(
            "audit_webhook.token_env",
            "BREAKGLASS_AUDIT_TOKEN",
            _env_name,
            "an environment variable name (the token itself never goes in the file)",
        ),
    )
    admission = AdmissionSettings(
        mode=r.get("admission.mode", "observe", _choice("observe"), "'observe' (never denies)"),
        require_client_cert=r.get(
            "admission.require_client_cert", False, _as_bool, "true or false"
        ),
        deadline_seconds=r.get(
            "admission.deadline_seconds",
            1.0,
            _as_positive_float,
            "a positive number of seconds, well under the webhook's timeoutSeconds",
        ),
    )
    if admission.require_client_cert and tls.client_ca_file is None:
        r.problem(
            "admission.require_client_cert",
            True,
            "needs tls.client_ca_file to verify the API server's client certificate",
        )
    r.section("actors")
    r.section("actors.ignore")
    actors = ActorSettings(
        ignore_users=r.get("actors.ignore.users", DEFAULT_IGNORED_USERS, _as_str_list, _GLOB_LIST),
        ignore_groups=r.get(
            "actors.ignore.groups", DEFAULT_IGNORED_GROUPS, _as_str_list, _GLOB_LIST
        ),
    )
    record_only = r.get("capture.record_only", DEFAULT_RECORD_ONLY, _as_str_list, _OPS_ALLOWED)
    for op in record_only:
        if op not in KNOWN_OPERATIONS:
            r.problem("capture.record_only", op, _OPS_ALLOWED)
    redaction = RedactionSettings(
        salt_env=r.get(
            "redaction.salt_env", "BREAKGLASS_REDACTION_SALT", _env_name, "an env var name"
        ),
        extra_key_patterns=r.get(
            "redaction.extra_key_patterns",
            RedactionSettings.extra_key_patterns,
            _as_str_list,
            _GLOB_LIST,
        ),
    )
    audit_log = AuditLogSettings(
        dir=r.get("audit_log.dir", state_dir / "audit", path, "a directory path"),
        key_env=r.get(
            "audit_log.key_env",
            AuditLogSettings.key_env,
            _env_name,
            "an environment variable name (the key itself never goes in the file)",
        ),
        key_file=r.get("audit_log.key_file", None, path, "a file holding the HMAC key"),
        max_bytes=r.get(
            "audit_log.max_bytes",
            AUDIT_LOG_MAX_BYTES_DEFAULT,
            _as_positive_int,
            "a positive byte count (rotate to a new file beyond it)",
        ),
        rotate_daily=r.get("audit_log.rotate_daily", True, _as_bool, "true or false"),
    )
    if audit_log.key_file is not None and not audit_log.key_file.is_file():
        r.problem("audit_log.key_file", str(audit_log.key_file), "an existing, readable file")
    metrics_listen: ListenSettings | None = None
    if r.section("metrics") and r.section("metrics.listen"):
        metrics_listen = ListenSettings(
            host=r.get("metrics.listen.host", _ALL_INTERFACES, _as_str, "an IP address or host"),
            port=r.get("metrics.listen.port", 9090, _as_port, "an integer from 0 to 65535"),
        )
        if metrics_listen.port == listen.port and metrics_listen.port != 0:
            r.problem(
                "metrics.listen.port",
                metrics_listen.port,
                "a port other than listen.port: metrics get their own plain-HTTP listener",
            )
    worker_listen: ListenSettings | None = None
    if r.section("metrics") and r.section("metrics.worker_listen"):
        worker_listen = ListenSettings(
            host=r.get(
                "metrics.worker_listen.host", _ALL_INTERFACES, _as_str, "an IP address or host"
            ),
            port=r.get("metrics.worker_listen.port", 9091, _as_port, "an integer from 0 to 65535"),
        )
        taken = {listen.port} | ({metrics_listen.port} if metrics_listen else set())
        if worker_listen.port in taken and worker_listen.port != 0:
            r.problem(
                "metrics.worker_listen.port",
                worker_listen.port,
                "a port of its own (not listen.port or metrics.listen.port): the worker is "
                "another process",
            )
    logging_settings = LoggingSettings(
        level=r.get(
            "logging.level",
            "info",
            _choice("debug", "info", "warning", "error"),
            "one of debug, info, warning, error",
        ),
        format=r.get("logging.format", "json", _choice("json", "console"), "json or console"),
    )
    max_body = r.get(
        "limits.max_body_bytes", MAX_BODY_DEFAULT, _as_positive_int, "a positive byte count"
    )
    worker = _backfill_part(r, data, state_dir, path)
    if r.problems:
        raise ConfigError(source, r.problems)
    return Settings(
        **worker,
        cluster=cluster,
        state_dir=state_dir,
        listen=listen,
        tls=tls,
        journal_url=journal_url,
        journal_password_env=journal_password_env,
        audit_webhook=audit,
        admission=admission,
        actors=actors,
        record_only=record_only,
        redaction=redaction,
        audit_log=audit_log,
        metrics=MetricsSettings(listen=metrics_listen, worker_listen=worker_listen),
        logging=logging_settings,
        max_body_bytes=max_body,
        source=source,
    )


_JOURNAL_ALLOWED: Final = "sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE"
_GLOB_LIST: Final = "a list of names, '*' globs allowed"
_OPS_ALLOWED: Final = "a list drawn from " + ", ".join(sorted(KNOWN_OPERATIONS))


def load(path: str | Path) -> Settings:
    """Read and validate a settings file; relative paths in it are relative to the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            str(file), [ConfigProblem("<file>", str(file), f"a readable file ({exc.strerror})")]
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(
            str(file), [ConfigProblem("<file>", where, f"valid YAML ({exc})")]
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(str(file), [ConfigProblem("<root>", _show(data), "a mapping of keys")])
    return from_mapping(data, source=str(file), base=file.resolve().parent)
