"""Settings: one YAML file plus environment variables for secrets, validated into frozen values.

Operators edit one file; secrets (bearer tokens, HMAC keys, forge tokens) never go in it, only
the *name* of the environment variable that holds them (``*_env`` keys).  Loading collects
every problem before failing, and each problem names the key path, the value found and what is
allowed, so ``breakglass config check FILE`` can print them all at once.

How it is built:

* Every section is a frozen pydantic model that refuses unknown keys (``_Model``).  A field is
  declared once: its type, its default, its constraints and, as ``Field(description=...)``,
  what is allowed, in the words ``config check`` prints.  A key written with no value
  (``key:`` alone) is a key left unset.
* The public classes (``Settings``, ``ListenSettings``, ``BackfillSettings``...) validate their
  section of the file themselves wherever the file has their shape.  Where it does not
  (``actors.ignore``, ``capture``, ``limits``, ``journal``, the entries of ``forges`` and
  ``users``), a private model mirrors the file.  ``_File`` is the whole document, and
  ``_settings`` builds ``Settings`` from it, with the defaults that depend on ``state_dir``.
* ``from_mapping`` validates with ``_File.model_validate``.  pydantic goes on after a bad value,
  so one ``ValidationError`` holds the problems of every value.  Checks between values are
  validators on the model that holds them all (the TLS pair, a forge's credentials) or, across
  sections, on the later section, which reads the earlier one from ``ValidationInfo.data``
  (ports that must differ).  pydantic runs such a check only once everything in its model is
  valid, so when some value is not, ``from_mapping`` sets the keys at fault aside and validates
  the rest again, until it passes: every check gets to run, a value set aside counting as unset.
  Forge names are checked against the forges the file declares (``_Reading``, the validation
  context), whatever their entries hold.  A validator reports all it finds at once, each
  problem with its key (``_refuse``).
* ``_problems`` turns each pydantic error into a ``ConfigProblem``: the error's ``loc`` is
  followed through the models and the parsed file together to give the key path as written
  (``backfill.interval``, ``forges.github.repo``, ``repos[2].branch``; a list of names is
  reported at its key, whole), the value found there, and the field's description.
  ``extra_forbidden`` is an unknown key; a missing required key is reported on its entry.
* Keys that look like secrets (``token``, ``password``...) are refused with their value hidden,
  over the whole document before validation, unknown sections included.
* Relative paths are relative to the settings file, whose directory the validation context
  carries.  Values built in code (no context) take paths as given and do not look for files.
* Files that exist only where breakglass runs (the TLS pair and CA bundle, the audit log's key
  file: mounted into its pod) are looked for unless the file is read elsewhere, before an
  install or to generate manifests (``RuntimeFiles``); each check left out is then noted.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from dataclasses import replace as replace_field
from pathlib import Path
from types import UnionType
from typing import (
    Annotated,
    Any,
    ClassVar,
    Final,
    NoReturn,
    Self,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from breakglass.errors import ConfigError, ConfigProblem, PermanentError
from breakglass.urls import SQLITE_PREFIX, is_postgresql, postgresql_problems, redact_url

DEFAULT_IGNORED_USERS: Final = ("system:*",)
DEFAULT_IGNORED_GROUPS: Final = ("system:nodes", "system:serviceaccounts:kube-system")
DEFAULT_RECORD_ONLY: Final = ("rollout-restart", "rollout-pause", "hpa-replicas")
KNOWN_OPERATIONS: Final = frozenset(DEFAULT_RECORD_ONLY)
MAX_BODY_DEFAULT: Final = 3 * 1024 * 1024
AUDIT_LOG_MAX_BYTES_DEFAULT: Final = 64 * 1024 * 1024
_STATE_DIR: Final = Path("./breakglass-state")
_SECRET_KEY_NAMES: Final = re.compile(r"(^|_)(token|password|secret|hmac_key|private_key)$")
_ALL_INTERFACES: Final = "0.0.0.0"  # noqa: S104 - listeners must be reachable from the cluster

_JOURNAL_ALLOWED: Final = "sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE"
_GLOB_LIST: Final = "a list of names, '*' globs allowed"
_OPS_ALLOWED: Final = "a list drawn from " + ", ".join(sorted(KNOWN_OPERATIONS))
_DNS_LABEL: Final = "a DNS label: lowercase letters, digits, '-'"
_SECTION: Final = "must be a mapping"
_UNKNOWN_KEY: Final = "unknown key; see the configuration reference in README.md"
_EXISTING_FILE: Final = "an existing, readable file"

#: the pydantic error type of the problems our own validators find (see ``_refuse``)
_PROBLEMS: Final = "breakglass_settings"


def _journal_url_in(state_dir: Path) -> str:
    """The journal's default: an SQLite file in ``state_dir``."""
    return f"{SQLITE_PREFIX}{state_dir / 'journal.db'}"


def _audit_dir_in(state_dir: Path) -> Path:
    """The audit log's default directory, in ``state_dir``."""
    return state_dir / "audit"


# -- reporting problems from validators ------------------------------------------------------


def _refuse(*problems: tuple[str, Any, str]) -> NoReturn:
    """Fail a validator with every problem it found at once.

    Each problem is ``(key, value shown, what is allowed)``, ``key`` being the path below the
    value validated ("" for the value itself).
    """
    summary = "; ".join(f"{key or 'value'}: {allowed}" for key, _, allowed in problems)
    raise PydanticCustomError(_PROBLEMS, "{summary}", {"summary": summary, "problems": problems})


@dataclass
class RuntimeFiles:
    """Reading a settings file away from where breakglass runs (a workstation before an
    install, ``breakglass manifests``): the files only the running service has, mounted into
    its pod (``tls.cert_file``, ``tls.key_file``, ``tls.client_ca_file``,
    ``audit_log.key_file``), are not looked for.  ``skipped`` notes each check left out, key
    path → file."""

    skipped: dict[str, Path] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class _Reading:
    """The validation context while a file is read: what values depend on beyond themselves."""

    #: the file's directory: relative paths are relative to it
    base: Path
    #: the forges the file declares, for the keys that name one
    forges: frozenset[str]
    #: set: the file is read away from where breakglass runs (``RuntimeFiles``)
    elsewhere: RuntimeFiles | None = None


def _reading(info: ValidationInfo) -> _Reading | None:
    """How the file being read is placed; ``None`` for values built in code."""
    return info.context if isinstance(info.context, _Reading) else None


def _missing_runtime_file(info: ValidationInfo, key: str, path: Path) -> bool:
    """Whether ``path``, at key path ``key``, is a file breakglass needs where it runs and is
    not there.  Not looked for in values built in code, nor when the settings file is read
    elsewhere (the check is then noted as skipped)."""
    reading = _reading(info)
    if reading is None:
        return False
    if reading.elsewhere is not None:
        reading.elsewhere.skipped[key] = path
        return False
    return not path.is_file()


# -- value types -------------------------------------------------------------------------------


def _one_of(*choices: str) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(value)
        return value

    return AfterValidator(check)


def _as_text(value: Any) -> Any:
    """Numbers and booleans written where text is expected are taken as text."""
    return str(value) if isinstance(value, int | float) else value


def _text_or_none(value: Any) -> Any:
    """An empty value (``github: ""``) is no value."""
    return _as_text(value) if value else None


def _resolved(value: Any, info: ValidationInfo) -> Any:
    """A path in the file: ``~`` expanded, relative to the file's directory."""
    if isinstance(value, str):
        if not value:
            raise ValueError("an empty path")
        reading = _reading(info)
        if reading is not None:
            path = Path(value).expanduser()
            return (path if path.is_absolute() else reading.base / path).resolve()
    return value


def _runtime_file(key: str) -> AfterValidator:
    """A file that exists where breakglass runs; ``key`` is its key path in the file."""

    def check(value: Path, info: ValidationInfo) -> Path:
        if _missing_runtime_file(info, key, value):
            _refuse(("", str(value), _EXISTING_FILE))
        return value

    return AfterValidator(check)


def _declared_forge(value: str, info: ValidationInfo) -> str:
    """A key that names a forge names one the file declares (``local`` always is)."""
    reading = _reading(info)
    if reading is not None and value not in reading.forges:
        _refuse(("", value, "the name of an entry in forges"))
    return value


def _known_operations(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [op for op in value if op not in KNOWN_OPERATIONS]
    if unknown:
        _refuse(*(("", op, _OPS_ALLOWED) for op in unknown))
    return value


def _by_name(value: Any) -> Any:
    """Entries by name (``forges``, ``users``): names are text, and an empty value has none."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        return {str(key): entry for key, entry in value.items()}
    return value


# strict: YAML's types are taken as they are (``port: "8443"`` is not a port, ``true`` not 1),
# except where text is expected and a number was written (``_Scalar``).
_Str = Annotated[str, Field(strict=True)]
_Text = Annotated[_Str, Field(min_length=1)]
_Scalar = Annotated[_Str, BeforeValidator(_as_text)]
_OptionalText = Annotated[str | None, BeforeValidator(_text_or_none)]
_Bool = Annotated[bool, Field(strict=True)]
_Port = Annotated[int, Field(strict=True, ge=0, le=65535)]
_PositiveInt = Annotated[int, Field(strict=True, gt=0)]
_PositiveFloat = Annotated[float, Field(strict=True, gt=0)]
_EnvName = Annotated[_Str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_ClusterName = Annotated[_Str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
_Names = tuple[_Text, ...]
_Operations = Annotated[_Names, AfterValidator(_known_operations)]
_Path = Annotated[Path, BeforeValidator(_resolved)]
_OptionalPath = Annotated[_Path | None, BeforeValidator(lambda value: value or None)]
_ForgeName = Annotated[_Text, AfterValidator(_declared_forge)]


class _Model(BaseModel):
    """Frozen, refuses unknown keys, and takes a key with no value (``key:``) as unset.

    Validators are built on first use (``defer_build``): commands that never read settings do
    not pay for them at start-up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None}
        return data


# -- the public settings -----------------------------------------------------------------------


class ListenSettings(_Model):
    host: _Text = Field(
        _ALL_INTERFACES,  # a webhook must be reachable by the API server
        description="an IP address or host name",
    )
    port: _Port = Field(8443, description="an integer from 0 to 65535")


class TLSSettings(_Model):
    """Serving certificate; without files a self-signed pair is generated under ``state_dir``."""

    cert_file: _Path | None = Field(None, description="a PEM certificate file path")
    key_file: _Path | None = Field(None, description="a PEM private key file path")
    client_ca_file: _Path | None = Field(None, description="a PEM CA bundle path")
    reload_interval: _PositiveFloat = Field(10.0, description="seconds, a positive number")

    @model_validator(mode="after")
    def _usable_files(self, info: ValidationInfo) -> Self:
        """Both files of the pair or neither; and, reading a file, files that exist.  Checked
        together so that a missing file does not hide that its pair is incomplete."""
        problems: list[tuple[str, Any, str]] = []
        if (self.cert_file is None) != (self.key_file is None):
            shown = {"cert_file": str(self.cert_file), "key_file": str(self.key_file)}
            problems.append(
                (
                    "",
                    shown,
                    "set both cert_file and key_file, or neither (a self-signed pair is generated)",
                )
            )
        for key in ("cert_file", "key_file", "client_ca_file"):
            path = getattr(self, key)
            if path is not None and _missing_runtime_file(info, f"tls.{key}", path):
                problems.append((key, str(path), _EXISTING_FILE))
        if problems:
            _refuse(*problems)
        return self


class AuditWebhookSettings(_Model):
    enabled: _Bool = Field(True, description="true or false")
    token_env: _EnvName = Field(
        "BREAKGLASS_AUDIT_TOKEN",
        description="an environment variable name (the token itself never goes in the file)",
    )


class AdmissionSettings(_Model):
    mode: Annotated[_Str, _one_of("observe", "require-session", "freeze")] = Field(
        "observe",
        description="'observe' (never denies), 'require-session' (a manual write to a managed "
        "object needs an open session or a breakglass.dev/reason annotation) or 'freeze' "
        "(manual writes to managed objects only by breakglass_groups)",
    )
    #: in ``freeze``, members of these groups (globs) may still change managed objects
    breakglass_groups: _Names = Field((), description=_GLOB_LIST)
    require_client_cert: _Bool = Field(False, description="true or false")
    #: /validate answers within this many seconds whatever happens (a slow journal, a slow
    #: audit log): kept well under the webhook's timeoutSeconds, so kubectl never waits on us
    deadline_seconds: _PositiveFloat = Field(
        1.0, description="a positive number of seconds, well under the webhook's timeoutSeconds"
    )


class ActorSettings(_Model):
    """Whose changes are automation; the file writes them as ``actors.ignore.users/groups``."""

    ignore_users: _Names = Field(DEFAULT_IGNORED_USERS, description=_GLOB_LIST)
    ignore_groups: _Names = Field(DEFAULT_IGNORED_GROUPS, description=_GLOB_LIST)

    def is_ignored(self, username: str, groups: tuple[str, ...]) -> bool:
        """Whether changes by this identity are automation, not a human's manual edit."""
        if any(fnmatch.fnmatchcase(username, p) for p in self.ignore_users):
            return True
        return any(fnmatch.fnmatchcase(g, p) for g in groups for p in self.ignore_groups)


class RedactionSettings(_Model):
    salt_env: _EnvName = Field("BREAKGLASS_REDACTION_SALT", description="an env var name")
    extra_key_patterns: _Names = Field(
        ("*_TOKEN", "*_PASSWORD", "*_SECRET", "*_API_KEY"), description=_GLOB_LIST
    )


class AuditLogSettings(_Model):
    """The tamper-evident audit log: where it lives, its HMAC key, and when files rotate.

    The key comes from the environment variable ``key_env`` or, if that is unset, from the
    mounted file ``key_file``; ``breakglass serve`` generates a key file in ``state_dir`` when
    neither is configured, so the embedded default runs without set-up.
    """

    dir: _Path = Field(_audit_dir_in(_STATE_DIR), description="a directory path")
    key_env: _EnvName = Field(
        "BREAKGLASS_AUDIT_LOG_KEY",
        description="an environment variable name (the key itself never goes in the file)",
    )
    key_file: Annotated[_Path, _runtime_file("audit_log.key_file")] | None = Field(
        None, description="a file holding the HMAC key"
    )
    max_bytes: _PositiveInt = Field(
        AUDIT_LOG_MAX_BYTES_DEFAULT,
        description="a positive byte count (rotate to a new file beyond it)",
    )
    rotate_daily: _Bool = Field(True, description="true or false")


def _listener(port: int) -> BeforeValidator:
    """A metrics listener: unset or empty is none, and its port defaults to ``port``."""

    def fill(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        if not value:
            return None
        return {"port": port, **{k: v for k, v in value.items() if v is not None}}

    return BeforeValidator(fill)


class MetricsSettings(_Model):
    """``listen`` set: ``/metrics`` moves to its own plain-HTTP listener at that address.

    ``worker_listen`` set: the backfill worker (its own process) serves its ``/metrics`` there;
    unset, the worker's metrics are not served (its logs still say everything it does).
    """

    listen: Annotated[ListenSettings | None, _listener(port=9090)] = None
    worker_listen: Annotated[ListenSettings | None, _listener(port=9091)] = None
    #: how often the worker recomputes the drift metrics from the journal (every capture is
    #: read: see docs/operators.md for the cost)
    drift_refresh_seconds: _PositiveFloat = Field(60.0, description="seconds")


class LoggingSettings(_Model):
    level: Annotated[_Str, _one_of("debug", "info", "warning", "error")] = Field(
        "info", description="one of debug, info, warning, error"
    )
    format: Annotated[_Str, _one_of("json", "console")] = Field(
        "json", description="json or console"
    )


class UserIdentity(_Model):
    """How a Kubernetes username appears in Git and on the forge."""

    name: _Str = Field(description="a name")
    email: _Text = Field(description="an email address")
    github: _Text | None = Field(None, description="a GitHub user name")
    gitlab: _Text | None = Field(None, description="a GitLab user name")


class _ForgeEntry(_Model):
    """A forge as ``forges.<name>`` writes it; ``ForgeSettings`` adds the name."""

    allowed: ClassVar[str] = "a mapping with at least `kind`"

    kind: Annotated[_Str, _one_of("local", "github", "gitlab")] = Field(
        "local", description="local, github or gitlab"
    )
    repo: _Scalar = Field("", description="owner/name (GitHub) or group/project (GitLab)")
    base_url: _OptionalText = Field(None, description="the forge's API URL")
    token_env: _EnvName | None = Field(None, description="an environment variable name")
    app_id: _PositiveInt | None = Field(
        None, description="app_id and installation_id are positive integers"
    )
    installation_id: _PositiveInt | None = Field(
        None, description="app_id and installation_id are positive integers"
    )
    private_key_file: _OptionalPath = Field(None, description="a PEM private key file path")
    records_dir: _OptionalPath = Field(None, description="a directory path")

    @model_validator(mode="after")
    def _remote_forge(self) -> Self:
        """GitHub and GitLab need the repository and a way to authenticate."""
        if self.kind == "local":
            return self
        problems = []
        if "/" not in self.repo:
            problems.append(("repo", self.repo, "owner/name (GitHub) or group/project (GitLab)"))
        if self.token_env is None and self.app_id is None:
            problems.append(
                (
                    "",
                    "no credentials",
                    "set token_env (or app_id, installation_id and private_key_file for a "
                    "GitHub App)",
                )
            )
        if problems:
            _refuse(*problems)
        return self


class ForgeSettings(_ForgeEntry):
    """One place backfill branches and pull requests go (``forges.<name>``)."""

    name: _Text = "local"


def _repo_url(value: str, info: ValidationInfo) -> str:
    """A repository's URL, or a path to it (relative to the settings file)."""
    if "://" in value or value.startswith("git@"):
        return value
    return str(_resolved(value, info))


def _label_pairs(value: Any) -> Any:
    """``labels:`` is written as a mapping of label → value (``{}`` or ``[]`` when empty)."""
    if not value:
        return ()
    if isinstance(value, Mapping):
        return tuple((str(key), str(label)) for key, label in value.items())
    if isinstance(value, tuple):
        return value
    raise ValueError(value)


class RepoRuleSettings(_Model):
    """``repos[]``: the repository of objects that Argo CD or Flux metadata does not lead to."""

    allowed: ClassVar[str] = "a mapping with at least `url`"

    url: Annotated[_Text, AfterValidator(_repo_url)] = Field(
        description="a Git URL, or the path to a repository"
    )
    branch: _Scalar = Field("main", description="a branch name")
    path: Annotated[_Scalar, AfterValidator(lambda path: path.strip("/"))] = Field(
        "", description="a directory in the repository"
    )
    namespaces: tuple[_Str, ...] = Field(("*",), description=_GLOB_LIST)
    labels: Annotated[tuple[tuple[str, str], ...], BeforeValidator(_label_pairs)] = Field(
        (), description="a mapping of label → value"
    )
    forge: Annotated[_Scalar, AfterValidator(_declared_forge)] | None = Field(
        None, description="the name of an entry in forges"
    )


class KubeSettings(_Model):
    """How the worker reads the cluster: ``auto`` uses the in-cluster account when present."""

    mode: Annotated[_Str, _one_of("auto", "kubeconfig", "in-cluster", "off")] = Field(
        "auto", description="auto, kubeconfig, in-cluster or off"
    )
    kubeconfig: _Path | None = Field(None, description="a kubeconfig file path")
    context: _Text | None = Field(None, description="a context name")
    argocd_namespace: _Text = Field("argocd", description="a namespace")


class BackfillSettings(_Model):
    enabled: _Bool = Field(True, description="true or false")
    interval: _PositiveFloat = Field(2.0, description="seconds")
    grace_seconds: _PositiveFloat = Field(3.0, description="seconds")
    confirm_timeout: _PositiveFloat = Field(120.0, description="seconds")
    pr_poll_interval: _PositiveFloat = Field(60.0, description="seconds")
    labels: _Names = Field(("breakglass",), description="a list of label names")
    reviewers: _Names = Field((), description="a list of forge handles")
    draft: _Bool = Field(False, description="true or false")
    branch_prefix: _Text = Field("breakglass", description="a branch prefix")
    #: outside sessions, one person's changes to one repository within this many seconds of
    #: the last change of their open pull request join it; 0: one pull request per object
    group_window_seconds: Annotated[float, Field(ge=0)] = Field(
        300.0, description="seconds (0: one pull request per object)"
    )
    committer: UserIdentity = Field(
        default_factory=lambda: UserIdentity(
            name="breakglass", email="breakglass@users.noreply.invalid"
        ),
        description="a mapping with name and email",
    )
    forge: _ForgeName = Field("local", description="a name from forges")
    #: ignored since retry_deadline_hours; still accepted in files
    max_attempts: _PositiveInt = Field(8, description="a positive count")
    #: how long temporary failures (network, forge outages, rate limits) are retried before a
    #: capture is ``failed``; each retry waits at least what the forge asked (Retry-After)
    retry_deadline_hours: _PositiveFloat = Field(24.0, description="a positive number of hours")
    #: else $BREAKGLASS_SOPS, else sops on PATH
    sops_binary: _Text | None = Field(None, description="a path to the sops binary")
    #: else $BREAKGLASS_KUSTOMIZE, else kustomize on PATH
    kustomize_binary: _Text | None = Field(None, description="a path to the kustomize binary")
    #: else $BREAKGLASS_HELM, else helm on PATH
    helm_binary: _Text | None = Field(None, description="a path to the helm binary")
    #: prove each branch by rendering it before a PR is opened: ``required`` (no render, no
    #: PR), ``auto`` (a missing kustomize/helm binary is said in the PR instead), ``off``
    render_check: Annotated[_Str, _one_of("required", "auto", "off")] = Field(
        "auto", description="required, auto or off"
    )
    #: the worker process's CPU niceness (0-19): under load the kernel gives the webhook's
    #: process the CPU first, so backfill work does not slow admission down
    nice: Annotated[int, Field(strict=True, ge=0, le=19)] = Field(
        10, description="an integer from 0 to 19"
    )
    #: where the worker keeps its Git mirrors and worktrees (a cache: lost, they are cloned
    #: again); unset, ``state_dir/mirrors``.  On another filesystem than the journal's, their
    #: heavy metadata writes no longer delay the webhooks' fsyncs
    mirrors_dir: _OptionalPath = Field(None, description="a directory path")

    @field_validator("committer", mode="before")
    @classmethod
    def _committer_keys(cls, value: Any) -> Any:
        """``committer:`` has a name and an email; one given alone keeps the other's default."""
        if not isinstance(value, Mapping):
            return value
        unknown = [key for key in value if key not in ("name", "email")]
        if unknown:
            _refuse(*((str(key), key, _UNKNOWN_KEY) for key in unknown))
        default = cls.model_fields["committer"].get_default(call_default_factory=True)
        return {"name": default.name, "email": default.email, **value}

    @field_validator("committer")
    @classmethod
    def _committer_named(cls, value: UserIdentity) -> UserIdentity:
        if not value.name:
            _refuse(("name", value.name, "a name"))
        return value


#: field managers of the GitOps controllers breakglass knows (Argo CD, Flux): a field they own is
#: Git's, never a person's; ``flux-client-side-apply`` is ``flux bootstrap``/``flux install``
DEFAULT_GITOPS_MANAGERS: Final = (
    "argocd-controller",
    "argocd-application-controller",
    "argocd-applicationset-controller",
    "kustomize-controller",
    "helm-controller",
    "flux-client-side-apply",
)
#: field managers of the API server and of controllers (defaults, HPA scale, status writers)
DEFAULT_SYSTEM_MANAGERS: Final = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "cloud-controller-manager",
    "before-first-apply",
    "*-controller-manager",
    "*-operator",
    "*-webhook",
    "cluster-autoscaler",
    "vpa-*",
    "cert-manager*",
    "breakglass*",
)
#: field managers that are people's tools (kubectl's commands, dashboards); a manager in no
#: list is treated as ``scan.managers.unknown`` says
DEFAULT_HUMAN_MANAGERS: Final = (
    "kubectl",
    "kubectl-*",
    "k9s",
    "lens",
    "Lens",
    "OpenLens",
    "headlamp",
    "kubernetes-dashboard",
    "dashboard",
    "rancher",
    "Mozilla",
    "helm",
)


class ScanManagerSettings(_Model):
    """``scan.managers``: which ``managedFields`` managers are GitOps, system or people.

    Globs, matched in this order: ``gitops``, ``system``, ``human``; a manager none matches is
    ``unknown`` (``human``: reported, said to be unclassified; ``system``: never reported).
    """

    gitops: _Names = Field(DEFAULT_GITOPS_MANAGERS, description=_GLOB_LIST)
    system: _Names = Field(DEFAULT_SYSTEM_MANAGERS, description=_GLOB_LIST)
    human: _Names = Field(DEFAULT_HUMAN_MANAGERS, description=_GLOB_LIST)
    extra_gitops: _Names = Field((), description=_GLOB_LIST)
    extra_system: _Names = Field((), description=_GLOB_LIST)
    extra_human: _Names = Field((), description=_GLOB_LIST)
    unknown: Annotated[_Str, _one_of("human", "system")] = Field(
        "human", description="human or system"
    )


class ScanOwnerSettings(_Model):
    """``scan.owners[]``: who is assigned a scan's pull request when its author is unknown."""

    allowed: ClassVar[str] = "a mapping with `users` and `namespaces` or `apps`"

    namespaces: tuple[_Str, ...] = Field((), description=_GLOB_LIST)
    apps: tuple[_Str, ...] = Field((), description=_GLOB_LIST)
    users: _Names = Field(description="a list of usernames from users:")


class SessionSettings(_Model):
    """``sessions:``: break-glass sessions (``breakglass open``)."""

    #: the longest a session may last from when it opened
    max_hours: _PositiveFloat = Field(8.0, description="a positive number of hours")
    #: how often the webhook re-reads open sessions from the journal (another replica's)
    refresh_seconds: _PositiveFloat = Field(2.0, description="seconds")
    #: pause the GitOps controller of a session's applications while it is open (needs the
    #: opt-in RBAC of deploy/components/pause-self-heal)
    pause_self_heal: _Bool = Field(False, description="true or false")


class ScanSettings(_Model):
    """``scan:``: finding drift that did not pass through the webhook (``breakglass scan``)."""

    #: seconds between scans run by the worker; unset, the worker never scans on its own
    interval: _PositiveFloat | None = Field(None, description="seconds")
    #: objects per LIST request
    page_size: Annotated[int, Field(strict=True, ge=10, le=5000)] = Field(
        500, description="an integer from 10 to 5000"
    )
    managers: ScanManagerSettings = Field(default_factory=ScanManagerSettings)
    owners: Annotated[tuple[ScanOwnerSettings, ...], BeforeValidator(lambda v: v or ())] = Field(
        (), description="a list of owner rules"
    )
    #: report objects in a repository's namespaces that nothing in Git describes
    hand_created: _Bool = Field(True, description="true or false")
    #: kinds never scanned (``Kind`` or ``Kind.group``), on top of Events and Leases
    skip_kinds: _Names = Field((), description="a list of kinds")


_TF_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


def _relative(value: str) -> str:
    """A path inside the repository: relative, no ``..`` (it names a directory of the tree)."""
    parts = [part for part in value.strip().strip("/").split("/") if part not in ("", ".")]
    if value.startswith("/") or ".." in parts:
        raise ValueError(value)
    return "/".join(parts)


_RepoPath = Annotated[_Scalar, AfterValidator(_relative)]


class TerraformRootSettings(_Model):
    """``terraform.roots[]``: one OpenTofu/Terraform root module whose drift is backfilled.

    breakglass runs ``<binary> init`` and ``<binary> plan -refresh-only`` in a worktree of
    ``repo`` at ``branch``, in the directory ``path``, with only the environment variables
    named in ``env`` (credentials are passed by name, never written in the file).
    """

    allowed: ClassVar[str] = "a mapping with at least `name` and `repo`"

    name: Annotated[_Text, Field(pattern=_TF_NAME)] = Field(
        description="a name: letters, digits, '-', '_', '.' (at most 63; a metric label and a "
        "branch name part)"
    )
    repo: Annotated[_Text, AfterValidator(_repo_url)] = Field(
        description="a Git URL, or the path to a repository"
    )
    branch: _Scalar = Field("main", description="a branch name")
    path: _RepoPath = Field("", description="a directory inside the repository (no '..')")
    workspace: _Text = Field("default", description="a workspace name")
    var_files: tuple[_RepoPath, ...] = Field(
        (), description="a list of .tfvars files, relative to path, in the order they are passed"
    )
    binary: _Text = Field("tofu", description="tofu, terraform, or a path to either")
    env: tuple[_EnvName, ...] = Field(
        (),
        description="a list of environment variable names passed to the binary (credentials, "
        "TF_CLI_CONFIG_FILE, ...); nothing else of breakglass's environment is",
    )
    backend_config: Annotated[tuple[tuple[str, str], ...], BeforeValidator(_label_pairs)] = Field(
        (), description="a mapping of -backend-config key → value (no secrets: use env)"
    )
    forge: Annotated[_Scalar, AfterValidator(_declared_forge)] | None = Field(
        None, description="a name from forges (default: backfill.forge)"
    )
    assignees: _Names = Field(
        (), description="a list of usernames from users: who get its pull requests and issues"
    )


class TerraformSettings(_Model):
    """``terraform:``: OpenTofu/Terraform as a second source of drift (``breakglass tf scan``)."""

    roots: Annotated[tuple[TerraformRootSettings, ...], BeforeValidator(lambda v: v or ())] = Field(
        (), description="a list of root modules"
    )
    #: seconds between scans run by the worker; unset, the worker never scans on its own
    interval: _PositiveFloat | None = Field(None, description="seconds")
    #: seconds one init/plan/show may run before it is stopped
    timeout_seconds: _PositiveFloat = Field(900.0, description="seconds")
    #: providers downloaded once and shared by every root (TF_PLUGIN_CACHE_DIR)
    plugin_cache_dir: _OptionalPath = Field(None, description="a directory path")

    @field_validator("roots")
    @classmethod
    def _unique_names(
        cls, value: tuple[TerraformRootSettings, ...]
    ) -> tuple[TerraformRootSettings, ...]:
        seen: set[str] = set()
        problems = []
        for number, root in enumerate(value):
            if root.name in seen:
                problems.append((f"[{number}].name", root.name, "a name no other root has"))
            seen.add(root.name)
        if problems:
            _refuse(*problems)
        return value


#: what a notification can be about (``notifications.destinations[].events``)
NOTIFICATION_EVENTS: Final = (
    "session_opened",
    "session_closed",
    "pr_opened",
    "pr_merged",
    "pr_closed",
    "reverted",
    "needs_human",
)
_EVENTS_ALLOWED: Final = "a list drawn from " + ", ".join(NOTIFICATION_EVENTS)
_URL_IN_FILE: Final = (
    "webhook URLs are secrets (whoever has one can post): never in the file; set url_env to "
    "the name of an environment variable that holds it"
)


def _known_events(value: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [event for event in value if event not in NOTIFICATION_EVENTS]
    if unknown:
        _refuse(*(("", event, _EVENTS_ALLOWED) for event in unknown))
    return value


class NotificationDestination(_Model):
    """``notifications.destinations[]``: one place notifications go, and which ones.

    The URL and the signing key are read from the environment (``url_env``, ``secret_env``):
    a Slack or Teams webhook URL lets whoever holds it post, so it is a secret.
    """

    allowed: ClassVar[str] = "a mapping with at least `name`, `kind` and `url_env`"

    name: Annotated[_Text, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")] = Field(
        description="a name: letters, digits, '-', '_', '.' (at most 63; a metric label)"
    )
    kind: Annotated[_Str, _one_of("slack", "teams", "webhook")] = Field(
        description="slack, teams or webhook"
    )
    url_env: _EnvName = Field(
        description="an environment variable name (the URL itself never goes in the file)"
    )
    secret_env: _EnvName | None = Field(
        None,
        description="an environment variable name holding the HMAC key (webhook only; the key "
        "itself never goes in the file)",
    )
    events: Annotated[_Names, AfterValidator(_known_events)] = Field(
        NOTIFICATION_EVENTS, description=_EVENTS_ALLOWED
    )
    namespaces: _Names = Field(("*",), description=_GLOB_LIST)
    applications: _Names = Field(("*",), description=_GLOB_LIST)

    @model_validator(mode="before")
    @classmethod
    def _no_url(cls, data: Any) -> Any:
        """A URL written in the file is refused with its value hidden."""
        if isinstance(data, Mapping) and data.get("url") is not None:
            _refuse(("url", "<value hidden>", _URL_IN_FILE))
        return data

    @model_validator(mode="after")
    def _signed_webhook(self) -> Self:
        """A generic webhook is always signed; Slack and Teams take no key."""
        if self.kind == "webhook" and self.secret_env is None:
            _refuse(
                (
                    "secret_env",
                    None,
                    "kind webhook needs secret_env: the environment variable holding the HMAC "
                    "key its requests are signed with",
                )
            )
        if self.kind != "webhook" and self.secret_env is not None:
            _refuse(
                ("secret_env", self.secret_env, f"only kind webhook is signed, not {self.kind}")
            )
        return self


class NotificationSettings(_Model):
    """``notifications:``: where the worker posts what happened (Slack, Teams, a signed
    webhook).  Delivery never holds up a pass: messages wait in a bounded queue per
    destination, are retried with backoff, and are given up after ``max_attempts`` or
    ``give_up_seconds``."""

    destinations: Annotated[
        tuple[NotificationDestination, ...], BeforeValidator(lambda v: v or ())
    ] = Field((), description="a list of destinations")
    #: messages waiting per destination; beyond it the oldest is dropped (and counted)
    queue_size: Annotated[int, Field(strict=True, ge=1, le=100_000)] = Field(
        1000, description="an integer from 1 to 100000"
    )
    timeout_seconds: _PositiveFloat = Field(10.0, description="seconds for one request")
    max_attempts: Annotated[int, Field(strict=True, ge=1, le=100)] = Field(
        8, description="an integer from 1 to 100"
    )
    give_up_seconds: _PositiveFloat = Field(
        600.0, description="seconds a message is retried before it is given up"
    )
    drain_seconds: Annotated[float, Field(strict=True, ge=0)] = Field(
        5.0, description="seconds the worker waits at shutdown for queued messages to go"
    )

    @field_validator("destinations")
    @classmethod
    def _unique_names(
        cls, value: tuple[NotificationDestination, ...]
    ) -> tuple[NotificationDestination, ...]:
        seen: set[str] = set()
        problems = []
        for number, destination in enumerate(value):
            if destination.name in seen:
                problems.append(
                    (f"[{number}].name", destination.name, "a name no other destination has")
                )
            seen.add(destination.name)
        if problems:
            _refuse(*problems)
        return value


class Settings(_Model):
    """Everything ``breakglass serve`` and the worker need, validated."""

    cluster: _ClusterName = Field("default", description=_DNS_LABEL)
    state_dir: _Path = Field(_STATE_DIR, description="a directory path")
    listen: ListenSettings = Field(default_factory=ListenSettings)
    tls: TLSSettings = Field(default_factory=TLSSettings)
    journal_url: str = _journal_url_in(_STATE_DIR)
    journal_password_env: _EnvName = Field(
        "BREAKGLASS_JOURNAL_PASSWORD",
        description="an environment variable name (the password itself never goes in the file)",
    )
    audit_webhook: AuditWebhookSettings = Field(default_factory=AuditWebhookSettings)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    actors: ActorSettings = Field(default_factory=ActorSettings)
    record_only: _Operations = Field(DEFAULT_RECORD_ONLY, description=_OPS_ALLOWED)
    redaction: RedactionSettings = Field(default_factory=RedactionSettings)
    audit_log: AuditLogSettings = Field(default_factory=AuditLogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    max_body_bytes: _PositiveInt = Field(MAX_BODY_DEFAULT, description="a positive byte count")
    backfill: BackfillSettings = Field(default_factory=BackfillSettings)
    forges: tuple[ForgeSettings, ...] = Field(default_factory=lambda: (ForgeSettings(),))
    repos: tuple[RepoRuleSettings, ...] = ()
    users: tuple[tuple[str, UserIdentity], ...] = ()
    kube: KubeSettings = Field(default_factory=KubeSettings)
    scan: ScanSettings = Field(default_factory=ScanSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    terraform: TerraformSettings = Field(default_factory=TerraformSettings)
    source: str = "<defaults>"

    def forge(self, name: str) -> ForgeSettings | None:
        return next((f for f in self.forges if f.name == name), None)

    def forge_in_use(self, name: str | None) -> ForgeSettings:
        """The forge ``name`` names (a repository rule's or a Terraform root's ``forge``), else
        ``backfill.forge``'s; ``PermanentError`` when it is not configured."""
        chosen = name or self.backfill.forge
        forge = self.forge(chosen)
        if forge is None:
            raise PermanentError(f"forge {chosen!r} is not configured", hint="add it to forges:")
        return forge

    def user(self, username: str) -> UserIdentity | None:
        return dict(self.users).get(username)

    def secret(self, env_name: str, environ: Mapping[str, str] | None = None) -> str | None:
        """The value of a secret-bearing environment variable, or ``None`` if unset/empty."""
        env = os.environ if environ is None else environ
        value = env.get(env_name, "")
        return value or None


# -- the file's own shapes ---------------------------------------------------------------------


def _journal_url(value: str) -> str:
    """A journal URL; a PostgreSQL URL is checked part by part, and shown in problems with
    any password masked."""
    if value.startswith(SQLITE_PREFIX) and len(value) > len(SQLITE_PREFIX):
        return value
    shown = redact_url(value)
    if not is_postgresql(value):
        _refuse(("", shown, _JOURNAL_ALLOWED))
    problems = postgresql_problems(value)
    if problems:
        _refuse(*(("", shown, problem) for problem in problems))
    return value


def _url_only(value: Any) -> Any:
    """``journal: URL`` is short for ``journal: {url: URL}``."""
    return {"url": value} if isinstance(value, str) else value


class _Journal(_Model):
    """``journal:``; its URL unset is an SQLite file in ``state_dir``."""

    url: Annotated[_Str, AfterValidator(_journal_url)] | None = Field(
        None, description=_JOURNAL_ALLOWED
    )
    password_env: _EnvName | None = Field(
        None,
        description="an environment variable name (the password itself never goes in the file)",
    )


class _Ignore(_Model):
    users: _Names = Field(DEFAULT_IGNORED_USERS, description=_GLOB_LIST)
    groups: _Names = Field(DEFAULT_IGNORED_GROUPS, description=_GLOB_LIST)


class _Actors(_Model):
    ignore: _Ignore = Field(default_factory=_Ignore)


class _Capture(_Model):
    record_only: _Operations = Field(DEFAULT_RECORD_ONLY, description=_OPS_ALLOWED)


class _Limits(_Model):
    max_body_bytes: _PositiveInt = Field(MAX_BODY_DEFAULT, description="a positive byte count")


class _UserEntry(_Model):
    """``users.<username>``; the name defaults to the username."""

    allowed: ClassVar[str] = "a mapping with at least `email` (and name, github, gitlab)"

    name: _OptionalText = Field(None, description="a name")
    email: _Text = Field(description="an email address")
    github: _OptionalText = Field(None, description="a GitHub user name")
    gitlab: _OptionalText = Field(None, description="a GitLab user name")


class _File(_Model):
    """The settings file as written.  A check across sections sits on the later one, and reads
    the earlier one from ``ValidationInfo.data`` when it validated."""

    cluster: _ClusterName | None = Field(None, description=_DNS_LABEL)
    state_dir: _Path | None = Field(None, description="a directory path")
    listen: ListenSettings = Field(default_factory=ListenSettings)
    tls: TLSSettings = Field(default_factory=TLSSettings)
    journal: Annotated[_Journal | None, BeforeValidator(_url_only)] = Field(
        None, description=_JOURNAL_ALLOWED
    )
    audit_webhook: AuditWebhookSettings = Field(default_factory=AuditWebhookSettings)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    actors: _Actors = Field(default_factory=_Actors)
    capture: _Capture = Field(default_factory=_Capture)
    redaction: RedactionSettings = Field(default_factory=RedactionSettings)
    audit_log: AuditLogSettings = Field(default_factory=AuditLogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    limits: _Limits = Field(default_factory=_Limits)
    backfill: BackfillSettings = Field(default_factory=BackfillSettings)
    forges: Annotated[dict[str, _ForgeEntry], BeforeValidator(_by_name)] = Field(
        default_factory=dict, description="a mapping of forge name → settings"
    )
    repos: Annotated[tuple[RepoRuleSettings, ...], BeforeValidator(lambda v: v or ())] = Field(
        (), description="a list of repository rules"
    )
    users: Annotated[dict[str, _UserEntry], BeforeValidator(_by_name)] = Field(
        default_factory=dict, description="a mapping of Kubernetes username → identity"
    )
    kube: KubeSettings = Field(default_factory=KubeSettings)
    scan: ScanSettings = Field(default_factory=ScanSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    terraform: TerraformSettings = Field(default_factory=TerraformSettings)

    @field_validator("admission")
    @classmethod
    def _client_ca(cls, admission: AdmissionSettings, info: ValidationInfo) -> AdmissionSettings:
        tls = info.data.get("tls")
        if admission.require_client_cert and tls is not None and tls.client_ca_file is None:
            _refuse(
                (
                    "require_client_cert",
                    True,
                    "needs tls.client_ca_file to verify the API server's client certificate",
                )
            )
        return admission

    @field_validator("metrics")
    @classmethod
    def _own_ports(cls, metrics: MetricsSettings, info: ValidationInfo) -> MetricsSettings:
        """Each listener has a port of its own (0 picks a free one)."""
        listen = info.data.get("listen")
        if listen is None:
            return metrics
        problems = []
        taken = {listen.port}
        if metrics.listen is not None:
            if metrics.listen.port == listen.port and metrics.listen.port != 0:
                problems.append(
                    (
                        "listen.port",
                        metrics.listen.port,
                        "a port other than listen.port: metrics get their own plain-HTTP listener",
                    )
                )
            taken.add(metrics.listen.port)
        worker = metrics.worker_listen
        if worker is not None and worker.port in taken and worker.port != 0:
            problems.append(
                (
                    "worker_listen.port",
                    worker.port,
                    "a port of its own (not listen.port or metrics.listen.port): the worker is "
                    "another process",
                )
            )
        if problems:
            _refuse(*problems)
        return metrics


def _settings(doc: _File, *, source: str, base: Path) -> Settings:
    """The public values from a validated file, with the defaults that depend on where the file
    and ``state_dir`` are."""
    state_dir = doc.state_dir or base / _STATE_DIR
    journal = doc.journal or _Journal()
    journal_url = journal.url or _journal_url_in(state_dir)
    if journal_url.startswith(SQLITE_PREFIX):
        db_path = Path(journal_url[len(SQLITE_PREFIX) :])
        if not db_path.is_absolute():
            journal_url = f"{SQLITE_PREFIX}{(base / db_path).resolve()}"
    audit_log = doc.audit_log
    if "dir" not in audit_log.model_fields_set:
        audit_log = audit_log.model_copy(update={"dir": _audit_dir_in(state_dir)})
    records_dir = state_dir / "pull-requests"
    forges = [] if "local" in doc.forges else [ForgeSettings(records_dir=records_dir)]
    for name, entry in doc.forges.items():
        fields = entry.model_dump()
        fields["records_dir"] = entry.records_dir or records_dir
        forges.append(ForgeSettings(name=name, **fields))
    users = tuple(
        (
            username,
            UserIdentity(
                name=entry.name or username,
                email=entry.email,
                github=entry.github,
                gitlab=entry.gitlab,
            ),
        )
        for username, entry in doc.users.items()
    )
    given: dict[str, Any] = {
        key: value
        for key, value in (
            ("cluster", doc.cluster),
            ("journal_password_env", journal.password_env),
        )
        if value is not None
    }
    return Settings(
        **given,
        state_dir=state_dir,
        listen=doc.listen,
        tls=doc.tls,
        journal_url=journal_url,
        audit_webhook=doc.audit_webhook,
        admission=doc.admission,
        actors=ActorSettings(
            ignore_users=doc.actors.ignore.users, ignore_groups=doc.actors.ignore.groups
        ),
        record_only=doc.capture.record_only,
        redaction=doc.redaction,
        audit_log=audit_log,
        metrics=doc.metrics,
        logging=doc.logging,
        max_body_bytes=doc.limits.max_body_bytes,
        backfill=doc.backfill,
        forges=tuple(forges),
        repos=doc.repos,
        users=users,
        kube=doc.kube,
        scan=doc.scan,
        sessions=doc.sessions,
        notifications=doc.notifications,
        terraform=doc.terraform,
        source=source,
    )


# -- from pydantic's errors to problems --------------------------------------------------------


@dataclass(frozen=True)
class _Spot:
    """Where an error's ``loc`` leads in the file: the key path as written, the value found
    there, what is allowed, and the model the key belongs to.

    ``entry_path`` and ``entry_value`` are the mapping holding the key (a missing key is
    reported there).  ``keys`` lead to what to set aside before validating the rest again: the
    key itself, or the entry holding it when the key is required (set aside, it would be
    missing).
    """

    path: str = ""
    value: Any = None
    allowed: str = ""
    owner: type[BaseModel] | None = None
    entry_path: str = ""
    entry_value: Any = None
    keys: tuple[Any, ...] = ()


def _join(path: str, key: str) -> str:
    if not key:
        return path
    if not path or key.startswith("["):
        return f"{path}{key}"
    return f"{path}.{key}"


def _bare(tp: Any) -> Any:
    """``X`` from ``X | None`` and ``Annotated[X, ...]``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is Union or origin is UnionType:
            args = [arg for arg in get_args(tp) if arg is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _holds_model(tp: Any) -> bool:
    """Whether values of ``tp`` have keys of their own to report problems at."""
    tp = _bare(tp)
    return _is_model(tp) or any(_holds_model(arg) for arg in get_args(tp) if arg is not ...)


def _locate(root: type[BaseModel], data: Any, loc: Sequence[int | str]) -> _Spot:
    """Follow ``loc`` through the models and the parsed file together.  It stops at a key whose
    value has no keys of its own (the items of a list of names are reported at the list's key)
    and at a key written as a plain value (``journal: URL``)."""
    spot = _Spot(value=data)
    node: Any = root
    keys: tuple[Any, ...] = ()
    for part in loc:
        node = _bare(node)
        if _is_model(node) and isinstance(part, str) and isinstance(spot.value, Mapping):
            field = node.model_fields.get(part)
            keys = keys if field is not None and field.is_required() else (*keys, part)
            spot = _Spot(
                path=_join(spot.path, part),
                value=spot.value.get(part),
                allowed=(field.description or "") if field else "",
                owner=node,
                entry_path=spot.path,
                entry_value=spot.value,
                keys=keys,
            )
            if field is None or not _holds_model(field.annotation):
                return spot
            node = field.annotation
        elif get_origin(node) is dict and isinstance(spot.value, Mapping):
            key = next((k for k in spot.value if str(k) == str(part)), part)
            keys = (*keys, key)
            spot = _Spot(_join(spot.path, str(key)), spot.value.get(key), keys=keys)
            node = get_args(node)[1]
        elif get_origin(node) is tuple and isinstance(part, int):
            items = spot.value if isinstance(spot.value, Sequence) else ()
            keys = (*keys, part)
            value = items[part] if part < len(items) else None
            spot = _Spot(f"{spot.path}[{part}]", value, keys=keys)
            node = get_args(node)[0]
        else:
            return spot
    node = _bare(node)
    if not spot.allowed and _is_model(node):
        allowed = getattr(node, "allowed", _SECTION)
        spot = replace_field(spot, allowed=allowed if isinstance(allowed, str) else _SECTION)
    return spot


def _explain(error: ErrorDetails, spot: _Spot) -> Iterator[ConfigProblem]:
    kind = error["type"]
    if kind == _PROBLEMS:
        for key, shown, allowed in (error.get("ctx") or {})["problems"]:
            yield ConfigProblem(_join(spot.path, key), _show(shown), allowed)
    elif kind == "extra_forbidden":
        allowed = _UNKNOWN_KEY
        if isinstance(getattr(spot.owner, "allowed", None), str) and spot.owner is not None:
            allowed = "one of " + ", ".join(sorted(spot.owner.model_fields))
        yield ConfigProblem(spot.path, _show(error["loc"][-1]), allowed)
    elif kind == "missing" and spot.owner is not None:
        allowed = getattr(spot.owner, "allowed", _SECTION)
        yield ConfigProblem(spot.entry_path, _show(spot.entry_value), str(allowed))
    else:
        yield ConfigProblem(spot.path, _show(spot.value), spot.allowed or error["msg"])


def _problems(
    exc: ValidationError, root: type[BaseModel], data: Any, *, secret_paths: frozenset[str]
) -> tuple[list[ConfigProblem], list[tuple[Any, ...]]]:
    """Every problem in ``exc``, once each, in the order pydantic found them, and the keys they
    are about.  A secret-looking key is reported by ``_inline_secrets`` alone, not as an unknown
    key too."""
    problems: dict[ConfigProblem, None] = {}
    keys = []
    for error in exc.errors():
        spot = _locate(root, data, error["loc"])
        keys.append(spot.keys)
        for problem in _explain(error, spot):
            if error["type"] == "extra_forbidden" and problem.path in secret_paths:
                continue
            problems[problem] = None
    return list(problems), keys


def _without(data: Mapping[str, Any], paths: Sequence[tuple[Any, ...]]) -> tuple[Any, bool]:
    """A copy of the parsed file without what ``paths`` lead to, and whether any was there.  A
    list item goes with its whole list, or the indexes after it would shift."""

    def copied(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {key: copied(value) for key, value in node.items()}
        if isinstance(node, list):
            return [copied(value) for value in node]
        return node

    result = copied(data)
    removed = False
    for path in paths:
        keys = list(path)
        while keys and isinstance(keys[-1], int):
            keys.pop()
        node = result
        for key in keys[:-1]:
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and isinstance(key, int) and key < len(node):
                node = node[key]
            else:
                node = None
        if keys and isinstance(node, dict) and keys[-1] in node:
            del node[keys[-1]]
            removed = True
    return result, removed


def _hide_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: "<value hidden>"
            if isinstance(key, str) and _SECRET_KEY_NAMES.search(key)
            else _hide_secrets(item)
            for key, item in value.items()
        }
    return value


def _show(value: Any) -> str:
    text = repr(_hide_secrets(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _inline_secrets(node: Any, path: str = "") -> list[ConfigProblem]:
    """Secret-looking keys written with a value, anywhere in the file's mappings and lists."""
    problems: list[ConfigProblem] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SECRET_KEY_NAMES.search(key) and value is not None:
                problems.append(
                    ConfigProblem(
                        sub,
                        "<value hidden>",
                        f"secrets never go in the file: set `{key}_env` to the name of an "
                        "environment variable that holds it",
                    )
                )
            else:
                problems.extend(_inline_secrets(value, sub))
    elif isinstance(node, list):
        for number, item in enumerate(node):
            problems.extend(_inline_secrets(item, f"{path}[{number}]"))
    return problems


# -- entry points ------------------------------------------------------------------------------


def from_mapping(
    data: Mapping[str, Any],
    *,
    source: str,
    base: Path,
    elsewhere: RuntimeFiles | None = None,
) -> Settings:
    """Validate a parsed config mapping; raise ``ConfigError`` listing every problem.

    With ``elsewhere``, the files that exist only where breakglass runs are not looked for,
    and each check left out is noted in it.

    pydantic runs a check between keys only once everything in its model is valid.  So that
    such a check still reports when some other value is wrong, the keys at fault are set aside
    and the rest validated again, until it passes; a value set aside counts as unset.
    """
    secrets = _inline_secrets(data)
    hidden = frozenset(p.path for p in secrets)
    forges = data.get("forges")
    declared = {"local", *(map(str, forges) if isinstance(forges, Mapping) else ())}
    reading = _Reading(base=base, forges=frozenset(declared), elsewhere=elsewhere)
    problems = dict.fromkeys(secrets)
    remaining: Any = data
    while True:
        try:
            doc = _File.model_validate(remaining, context=reading)
        except ValidationError as exc:
            found, keys = _problems(exc, _File, remaining, secret_paths=hidden)
            problems.update(dict.fromkeys(found))
            remaining, removed = _without(remaining, keys)
            if removed:
                continue
            raise ConfigError(source, list(problems)) from None
        if problems:
            raise ConfigError(source, list(problems))
        return _settings(doc, source=source, base=base)


_M = TypeVar("_M", bound=_Model)


def replace(value: _M, /, *, source: str, **changes: Any) -> _M:
    """A copy of a settings value with ``changes``, validated (``model_copy`` checks nothing):
    a bad value raises ``ConfigError`` naming ``source`` and the key path."""
    data = {**dict(value), **changes}
    try:
        return type(value).model_validate(data)
    except ValidationError as exc:
        problems, _ = _problems(exc, type(value), data, secret_paths=frozenset())
        raise ConfigError(source, problems) from None


def load(path: str | Path, *, elsewhere: RuntimeFiles | None = None) -> Settings:
    """Read and validate a settings file; relative paths in it are relative to the file.

    ``elsewhere``: the file is read away from where breakglass runs (before an install, to
    generate manifests); the files only the running service has are not looked for, and each
    check left out is noted in it."""
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
    return from_mapping(data, source=str(file), base=file.resolve().parent, elsewhere=elsewhere)
