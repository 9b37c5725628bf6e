"""What an application's settings mean for a manual change: pure decisions from its objects.

Facts the rules rest on (each is in ``docs/kubernetes-facts.md`` where this project measured it):

- Argo CD compares live objects with Git continuously (it watches them) and shows drift as
  OutOfSync; it changes the cluster on its own only with ``syncPolicy.automated``, and puts a
  manual change back only with ``automated.selfHeal: true`` (after its self-heal timeout, 5 s by
  default).  ``ignoreDifferences`` hides fields from that comparison: a manual change there is
  never seen.  A ``deny`` sync window of the Application's AppProject blocks self-heal while open.
- Flux's kustomize-controller re-applies a Kustomization's objects every ``spec.interval`` with
  server-side apply and so reverts what it owns (it takes fields back from ``kubectl*`` managers);
  fields other managers added survive.  ``suspend: true`` stops it.
- Flux's helm-controller compares a release with the cluster only with
  ``spec.driftDetection.mode: enabled`` (corrects) or ``warn`` (reports); without it a release is
  applied when its chart or values change, and never looked at again.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

JSON = Any

#: Argo CD's default self-heal timeout (``--self-heal-timeout-seconds``)
ARGO_SELF_HEAL_SECONDS: Final = 5.0
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


class Verdict(enum.StrEnum):
    """What a manual change meets, from best to worst."""

    ENFORCING = "enforcing"
    NOTIFYING = "notifying"
    TRIGGERED = "triggered only"
    SUSPENDED = "suspended"

    @property
    def rank(self) -> int:
        return list(Verdict).index(self)


@dataclass(frozen=True)
class Posture:
    """One application, what its settings are, and what they mean for a manual change."""

    tool: str  # argocd | flux
    kind: str  # Application | Kustomization | HelmRelease
    namespace: str
    name: str
    verdict: Verdict
    #: how long until the controller puts a manual change back, when it does (seconds)
    expected_revert_seconds: float | None
    why: str
    caveats: tuple[str, ...] = ()
    settings: Mapping[str, JSON] = field(default_factory=dict)
    #: namespaces its objects land in (Argo CD destination, Flux targetNamespace), if known
    destinations: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.tool}:{self.namespace}/{self.name}"


def duration(text: JSON) -> float | None:
    """A Go duration (``10m``, ``1h30m``, ``30s``) in seconds; ``None`` if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    total, end = 0.0, 0
    for found in _DURATION.finditer(text):
        if found.start() != end:
            return None
        value, unit = float(found.group(1)), found.group(2)
        total += value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
        end = found.end()
    return total if end == len(text) else None


def argo_application(
    app: Mapping[str, JSON], projects: Sequence[Mapping[str, JSON]] = ()
) -> Posture:
    meta = app.get("metadata") or {}
    spec = app.get("spec") or {}
    policy = spec.get("syncPolicy") or {}
    automated = policy.get("automated")
    enabled = isinstance(automated, dict) and automated.get("enabled", True) is not False
    self_heal = enabled and bool((automated or {}).get("selfHeal"))
    options = [str(o) for o in policy.get("syncOptions") or []]
    ignored = [
        f"{d.get('kind', '*')}: " + ", ".join(str(p) for p in _ignored_paths(d))
        for d in spec.get("ignoreDifferences") or []
        if isinstance(d, dict)
    ]
    caveats: list[str] = []
    if ignored:
        caveats.append("ignoreDifferences hides manual changes to " + "; ".join(ignored))
    windows = _deny_windows(app, projects)
    if windows and self_heal:
        caveats.append("deny sync windows block self-heal while open: " + "; ".join(windows))
    destination = str((spec.get("destination") or {}).get("namespace") or "")
    settings = {
        "automated": enabled,
        "selfHeal": self_heal,
        "prune": bool(enabled and (automated or {}).get("prune")),
        "serverSideApply": "ServerSideApply=true" in options,
        "ignoreDifferences": len(ignored),
        "project": spec.get("project", "default"),
    }
    if self_heal:
        verdict, revert = Verdict.ENFORCING, ARGO_SELF_HEAL_SECONDS
        why = "automated sync with selfHeal: Argo CD puts Git's value back"
    elif enabled:
        verdict, revert = Verdict.NOTIFYING, None
        why = (
            "automated sync without selfHeal: Git's changes are applied, manual ones stay "
            "(OutOfSync)"
        )
    else:
        verdict, revert = Verdict.NOTIFYING, None
        why = "manual sync: drift shows as OutOfSync, nothing reverts it"
    return Posture(
        "argocd",
        "Application",
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
        verdict,
        revert,
        why,
        tuple(caveats),
        settings,
        (destination,) if destination else (),
    )


def _ignored_paths(entry: Mapping[str, JSON]) -> list[JSON]:
    return [
        *(entry.get("jsonPointers") or []),
        *(entry.get("jqPathExpressions") or []),
        *(f"fields of {m}" for m in entry.get("managedFieldsManagers") or []),
    ]


def _deny_windows(app: Mapping[str, JSON], projects: Sequence[Mapping[str, JSON]]) -> list[str]:
    """The deny windows of the Application's AppProject that apply to it."""
    spec = app.get("spec") or {}
    name = str((app.get("metadata") or {}).get("name", ""))
    project = next(
        (
            p
            for p in projects
            if (p.get("metadata") or {}).get("name") == spec.get("project", "default")
        ),
        None,
    )
    out = []
    for window in ((project or {}).get("spec") or {}).get("syncWindows") or []:
        if not isinstance(window, dict) or window.get("kind") != "deny":
            continue
        apps = [str(a) for a in window.get("applications") or []]
        if apps and not any(_glob(name, a) for a in apps):
            continue
        out.append(f"{window.get('schedule', '?')} for {window.get('duration', '?')}")
    return out


def _glob(value: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(value, pattern)


def flux_kustomization(
    ks: Mapping[str, JSON], sources: Mapping[tuple[str, str], Mapping[str, JSON]] = {}
) -> Posture:
    meta = ks.get("metadata") or {}
    spec = ks.get("spec") or {}
    interval = duration(spec.get("interval"))
    ref = spec.get("sourceRef") or {}
    source = sources.get(
        (str(ref.get("namespace") or meta.get("namespace", "")), str(ref.get("name", "")))
    )
    source_interval = duration(((source or {}).get("spec") or {}).get("interval"))
    settings = {
        "interval": spec.get("interval"),
        "retryInterval": spec.get("retryInterval"),
        "prune": bool(spec.get("prune")),
        "force": bool(spec.get("force")),
        "suspend": bool(spec.get("suspend")),
        "sourceInterval": ((source or {}).get("spec") or {}).get("interval"),
    }
    caveats = [
        "keys added by field managers other than kubectl (dashboards, --field-manager) survive "
        "every reconcile",
    ]
    if source_interval is not None and interval is not None and source_interval > interval:
        caveats.append("its source is fetched less often than it reconciles: Git's changes wait")
    target = str(spec.get("targetNamespace") or "")
    common = (
        "flux",
        "Kustomization",
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )
    if spec.get("suspend") is True:
        return Posture(
            *common,
            Verdict.SUSPENDED,
            None,
            "suspend: true: nothing is applied or reverted until it is resumed",
            tuple(caveats),
            settings,
            (target,) if target else (),
        )
    return Posture(
        *common,
        Verdict.ENFORCING,
        interval,
        "server-side apply every interval puts Git's value back on the fields Flux applies",
        tuple(caveats),
        settings,
        (target,) if target else (),
    )


def flux_helmrelease(hr: Mapping[str, JSON]) -> Posture:
    meta = hr.get("metadata") or {}
    spec = hr.get("spec") or {}
    mode = str(((spec.get("driftDetection") or {}).get("mode")) or "disabled")
    interval = duration(spec.get("interval"))
    settings = {
        "interval": spec.get("interval"),
        "driftDetection": mode,
        "suspend": bool(spec.get("suspend")),
    }
    target = str(spec.get("targetNamespace") or meta.get("namespace") or "")
    common = ("flux", "HelmRelease", str(meta.get("namespace", "")), str(meta.get("name", "")))
    if spec.get("suspend") is True:
        return Posture(
            *common,
            Verdict.SUSPENDED,
            None,
            "suspend: true: nothing is applied until it is resumed",
            (),
            settings,
            (target,),
        )
    if mode == "enabled":
        return Posture(
            *common,
            Verdict.ENFORCING,
            interval,
            "driftDetection enabled: drift is corrected every interval",
            (),
            settings,
            (target,),
        )
    if mode == "warn":
        return Posture(
            *common,
            Verdict.NOTIFYING,
            None,
            "driftDetection warn: drift is reported, not corrected",
            (),
            settings,
            (target,),
        )
    return Posture(
        *common,
        Verdict.TRIGGERED,
        None,
        "no driftDetection: the release is applied when its chart or values change, and never "
        "compared again",
        (),
        settings,
        (target,),
    )


def fails(postures: Sequence[Posture], threshold: Verdict | None) -> list[Posture]:
    """The applications at ``threshold`` or worse (``--fail-on``)."""
    if threshold is None:
        return []
    return [p for p in postures if p.verdict.rank >= threshold.rank]
