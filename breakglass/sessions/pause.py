"""Self-heal paused for a session's applications and put back (pure decisions).

With ``sessions.pause_self_heal``, opening a session pauses the GitOps controller of the
applications it affects, so the fix is not reverted while its backfill pull request waits:
Flux (Kustomization, HelmRelease) gets ``spec.suspend: true``, Argo CD's Application
``automated.selfHeal: false``.  The application is put back as it was when the session ends
(closed or expired) or when every pull request of the session's changes to it merged,
whichever comes first; several sessions pausing one application keep it paused until the
last of them is due.  Each paused object carries ``breakglass.dev/paused-by: <session>``; a
restore is conditional on it, so a person who resumed or re-paused the application in the
meantime keeps what they set.

Affected: the applications the session names; those whose objects land in the session's
namespaces; and those owning objects the session's members already changed.  Only an
application that would revert a change (Flux not suspended, Argo CD with selfHeal) is paused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from breakglass import model, repos
from breakglass.sessions.policy import application

JSON = Any

PAUSED_BY: Final = "breakglass.dev/paused-by"
#: (group, version, plural) of each kind that can be paused
KINDS: Final = {
    "Kustomization": ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
    "HelmRelease": ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
    "Application": ("argoproj.io", "v1alpha1", "applications"),
}


@dataclass(frozen=True)
class App:
    """A GitOps application as a pause sees it."""

    tool: str
    kind: str
    namespace: str
    name: str
    #: whether its controller puts a manual change back now
    enforcing: bool
    #: namespaces its objects land in
    destinations: tuple[str, ...]
    #: the session whose pause it carries, if any
    paused_by: str | None
    #: the value a pause changes, as it is now (Flux suspend, Argo CD selfHeal)
    switch: JSON

    @property
    def key(self) -> str:
        return f"{self.tool}:{self.kind}:{self.namespace}/{self.name}"

    @property
    def where(self) -> tuple[str, str, str]:
        return KINDS[self.kind]


def apps_from(objects: Mapping[str, Sequence[Mapping[str, JSON]]]) -> list[App]:
    """The applications in what ``posture.run.collect`` read."""
    out = []
    for obj in objects.get("kustomizations", []):
        out.append(_flux(obj, "Kustomization"))
    for obj in objects.get("helmreleases", []):
        out.append(_flux(obj, "HelmRelease"))
    for obj in objects.get("applications", []):
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        automated = (spec.get("syncPolicy") or {}).get("automated")
        enabled = isinstance(automated, dict) and automated.get("enabled", True) is not False
        heal = (automated or {}).get("selfHeal") if isinstance(automated, dict) else None
        places = {str((spec.get("destination") or {}).get("namespace") or "")}
        places |= {
            str(r.get("namespace") or "")
            for r in (obj.get("status") or {}).get("resources") or []
            if isinstance(r, dict)
        }
        out.append(
            App(
                "argocd",
                "Application",
                str(meta.get("namespace", "")),
                str(meta.get("name", "")),
                bool(enabled and heal),
                tuple(sorted(p for p in places if p)),
                _paused_by(meta),
                heal,
            )
        )
    return out


def _flux(obj: Mapping[str, JSON], kind: str) -> App:
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    places = {str(spec.get("targetNamespace") or "")}
    if kind == "HelmRelease" and not spec.get("targetNamespace"):
        places.add(str(meta.get("namespace") or ""))
    for entry in ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []:
        parts = str((entry or {}).get("id", "")).split("_")
        if len(parts) == 4:
            places.add(parts[0])
    suspended = spec.get("suspend")
    enforcing = suspended is not True
    if kind == "HelmRelease":
        mode = ((spec.get("driftDetection") or {}).get("mode")) or "disabled"
        enforcing = enforcing and mode == "enabled"
    return App(
        "flux",
        kind,
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
        enforcing,
        tuple(sorted(p for p in places if p)),
        _paused_by(meta),
        suspended,
    )


def _paused_by(meta: Mapping[str, JSON]) -> str | None:
    value = (meta.get("annotations") or {}).get(PAUSED_BY)
    return value if isinstance(value, str) and value else None


def owns(app: App, capture: model.Capture) -> bool:
    """Whether ``app`` applied the object of ``capture``, from the owner labels it keeps: a
    Flux Kustomization or HelmRelease by name and namespace, an Argo CD Application by name."""
    labels = dict(capture.labels)
    if app.tool == "flux":
        name_key, ns_key = (
            (repos.FLUX_KS_NAME, repos.FLUX_KS_NAMESPACE)
            if app.kind == "Kustomization"
            else (repos.FLUX_HR_NAME, repos.FLUX_HR_NAMESPACE)
        )
        return labels.get(name_key) == app.name and labels.get(ns_key) == app.namespace
    return application(labels) == app.name and repos.ARGO_TRACKING in labels


def affected(
    session: model.Session, apps: Sequence[App], captures: Sequence[model.Capture]
) -> list[App]:
    """The applications a session pauses (enforcing ones, or ones another session paused)."""
    mine = [c for c in captures if c.session == session.name]
    out = []
    for app in apps:
        if not (app.enforcing or app.paused_by is not None):
            continue
        named = app.name in session.applications
        placed = any(n in app.destinations for n in session.namespaces)
        changed = any(owns(app, c) for c in mine)
        if named or placed or changed:
            out.append(app)
    return out


def pause_patch(app: App, session: str) -> dict[str, JSON]:
    """The merge patch that pauses ``app`` for ``session``."""
    meta = {"annotations": {PAUSED_BY: session}}
    if app.tool == "flux":
        return {"metadata": meta, "spec": {"suspend": True}}
    return {"metadata": meta, "spec": {"syncPolicy": {"automated": {"selfHeal": False}}}}


def restore_ops(obj: Mapping[str, JSON], pause: model.Pause) -> list[dict[str, JSON]] | None:
    """The JSON Patch that puts ``pause.original`` back and removes the mark; ``None`` when
    the object no longer carries this pause's mark (someone changed it: left as it is)."""
    meta = obj.get("metadata") or {}
    if _paused_by(meta) != pause.session:
        return None
    mark = "/metadata/annotations/" + PAUSED_BY.replace("~", "~0").replace("/", "~1")
    ops: list[dict[str, JSON]] = [
        {"op": "test", "path": mark, "value": pause.session},
        {"op": "remove", "path": mark},
    ]
    if pause.tool == "flux":
        pointer, now = "/spec/suspend", (obj.get("spec") or {}).get("suspend")
        paused_value: JSON = True
    else:
        pointer = "/spec/syncPolicy/automated/selfHeal"
        automated = ((obj.get("spec") or {}).get("syncPolicy") or {}).get("automated") or {}
        now, paused_value = automated.get("selfHeal"), False
    if now != paused_value:
        return ops  # someone set it since: only the mark goes
    ops.append({"op": "test", "path": pointer, "value": paused_value})
    if pause.original is None:
        ops.append({"op": "remove", "path": pointer})
    else:
        ops.append({"op": "replace", "path": pointer, "value": pause.original})
    return ops


def due(
    pause: model.Pause,
    session: model.Session | None,
    captures: Sequence[model.Capture],
    now: datetime,
) -> str | None:
    """Why a pause ends now, or ``None`` while it holds."""
    if session is None:
        return "its session is unknown to the journal"
    if session.closed_at is not None and session.closed_at <= now:
        return f"session {session.name} was closed"
    if now >= pause.due_at or now >= session.expires_at:
        return f"session {session.name} reached its deadline"
    app = App(pause.tool, pause.kind, pause.namespace, pause.name, True, (), None, None)
    mine = [c for c in captures if c.session == session.name and owns(app, c)]
    if mine and all(c.status is model.Status.MERGED for c in mine):
        return "every pull request of the session's changes to it merged"
    return None
