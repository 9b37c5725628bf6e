"""Which session a manual change belongs to, and what ``admission.mode`` decides (pure).

- ``observe``: never denies (the default).
- ``require-session``: a manual write to an object a GitOps tool manages is denied unless its
  author has an open session covering it, or the object carries ``breakglass.dev/reason``;
  the denial gives the exact ``breakglass open`` command.
- ``freeze``: a manual write to a managed object is denied unless its author is in one of
  ``admission.breakglass_groups``.

"Managed" is what the webhook can tell without reading the cluster: Argo CD tracking, Flux's
labels, a ``repos:`` rule.  A ``Scale`` (``kubectl scale``) carries no labels, so unless a
namespace rule claims it, it is judged managed: refusing a scale of an unmanaged object is the
safer mistake in a mode that exists to refuse.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Sequence
from typing import Final

from breakglass import model, repos

OBSERVE: Final = "observe"
REQUIRE_SESSION: Final = "require-session"
FREEZE: Final = "freeze"
MODES: Final = (OBSERVE, REQUIRE_SESSION, FREEZE)
REASON_ANNOTATION: Final = "breakglass.dev/reason"


def application(labels: dict[str, str] | object) -> str | None:
    """The name of the Argo CD Application, Flux Kustomization or HelmRelease that owns an
    object, from the owner hints a capture keeps."""
    if not isinstance(labels, dict):
        return None
    tracking = labels.get(repos.ARGO_TRACKING)
    if isinstance(tracking, str) and ":" in tracking:
        return tracking.split(":", 1)[0]
    for key in (repos.FLUX_KS_NAME, repos.FLUX_HR_NAME, "app.kubernetes.io/instance"):
        value = labels.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def covering(sessions: Sequence[model.Session], capture: model.Capture) -> model.Session | None:
    """The session a capture belongs to: open when it was made, its author the owner or a
    member, its object in the session's namespaces or applications (no scope: everything);
    the most recently opened of several."""
    user = capture.actor.username
    app = application(dict(capture.labels))
    found = None
    for session in sessions:
        if not session.is_open(capture.received_at):
            continue
        if user != session.owner and user not in session.members:
            continue
        scoped = bool(session.namespaces or session.applications)
        in_scope = capture.object.namespace in session.namespaces or (
            app is not None and app in session.applications
        )
        if scoped and not in_scope:
            continue
        if found is None or session.opened_at > found.opened_at:
            found = session
    return found


def managed(capture: model.Capture, rules: Sequence[repos.RepoRule]) -> bool:
    """Whether a GitOps tool (or a ``repos:`` rule) owns the object, as far as the webhook can
    tell; a Scale's owner cannot be told, so it counts as managed."""
    labels = dict(capture.labels)
    if repos.claimed(labels, namespace=capture.object.namespace, rules=rules):
        return True
    return capture.object.subresource == "scale" and not labels


def judge(
    capture: model.Capture,
    *,
    mode: str,
    session: model.Session | None,
    breakglass_groups: Sequence[str],
    rules: Sequence[repos.RepoRule],
) -> str | None:
    """The denial message for a manual write, or ``None`` when it is allowed."""
    if mode == OBSERVE or capture.classification == model.DRILL:
        return None
    if not managed(capture, rules):
        return None
    what = capture.object.describe()
    owner = application(dict(capture.labels))
    owned = f" (managed by {owner})" if owner else ""
    if mode == FREEZE:
        groups = capture.actor.groups
        if any(fnmatch.fnmatchcase(g, p) for g in groups for p in breakglass_groups):
            return None
        allowed = ", ".join(breakglass_groups) or "none configured"
        return (
            f"breakglass: {what}{owned} is frozen (admission.mode: freeze): manual changes to "
            f"objects GitOps manages are refused; only members of {allowed} may make them"
        )
    if session is not None:
        return None
    reason = capture.labels.get(REASON_ANNOTATION)
    if isinstance(reason, str) and reason.strip():
        return None
    return (
        f"breakglass: {what}{owned} is managed by GitOps and admission.mode is "
        f"require-session: open a session first, then retry: {open_command(capture)} "
        f"(or set the annotation {REASON_ANNOTATION} in this change)"
    )


def open_command(capture: model.Capture) -> str:
    """The exact ``breakglass open`` that would let this change through."""
    scope = (
        f"--namespace {shlex.quote(capture.object.namespace)}"
        if capture.object.namespace
        else f"--app {shlex.quote(application(dict(capture.labels)) or '<application>')}"
    )
    return f'breakglass open --reason "<incident and why>" --for 30m {scope}'
