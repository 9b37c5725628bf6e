"""The words of a backfill: PR title and body, commit message, follow-up comments.

Pure functions from captures to text, so what reviewers read is tested without a forge.  Every
value that came from the cluster or from a user (object names, usernames, groups, annotation
values) is escaped before it enters Markdown, so a name cannot inject links, HTML, mentions or
break the table; the diff goes in a fenced block whose fence is longer than any run of
backticks inside it.  No Secret value ever reaches this module: captures are redacted at
capture time, and the engine refuses to write Secret values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from breakglass import delta as deltas
from breakglass import model

REASON_ANNOTATION = "breakglass.dev/reason"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|<>~@])")
_VERBS = {
    "kubectl-edit": "kubectl edit",
    "kubectl-patch": "kubectl patch",
    "kubectl-set": "kubectl set",
    "kubectl-label": "kubectl label",
    "kubectl-annotate": "kubectl annotate",
    "kubectl-client-side-apply": "kubectl apply",
    "kubectl-create": "kubectl create",
    "kubectl-replace": "kubectl replace",
    "kubectl-rollout": "kubectl rollout",
    "kubectl": "kubectl",
}


def md(text: str, *, limit: int = 200) -> str:
    """``text`` safe inside Markdown prose and tables: specials escaped, one line, bounded."""
    one_line = " ".join(str(text).split())
    if len(one_line) > limit:
        one_line = one_line[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", one_line)


def code(text: str, *, limit: int = 200) -> str:
    """``text`` as inline code that nothing inside can close early.

    ``|`` is escaped too: GitHub splits table cells on it even inside code spans.
    """
    one_line = " ".join(str(text).split())[:limit].replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", one_line)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if one_line.startswith("`") or one_line.endswith("`") else ""
    return f"{fence}{pad}{one_line}{pad}{fence}"


def reviewable_diff(diff: str) -> str:
    """A ``git diff`` without the ``diff --git``/``index`` plumbing lines reviewers skip."""
    return "\n".join(
        line for line in diff.splitlines() if not line.startswith(("diff --git ", "index "))
    )


def fenced(text: str, lang: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def how(capture: model.Capture) -> str:
    """The kubectl command behind a capture, from its field manager, subresource and delta.

    kubectl sends one field manager per command (``kubectl-set``, ``kubectl-rollout``), so the
    sub-command is read from what changed: ``set image`` changes only images, ``rollout
    undo`` is the one rollout sub-command that rewrites the pod template.
    """
    if capture.source is model.Source.SCAN:
        return "drift found by scan"
    if capture.object.subresource == "scale":
        return "kubectl scale"
    if capture.operation is model.Operation.DELETE:
        return "kubectl delete"
    manager = capture.actor.field_manager or ""
    if manager == "kubectl-set":
        sub = _set_subcommand(capture.delta.paths)
        return f"kubectl set {sub}" if sub else "kubectl set"
    if manager == "kubectl-rollout":
        return f"kubectl rollout {_rollout_subcommand(capture)}"
    agent = capture.actor.user_agent or ""
    if capture.delta.patch_type == "apply":
        return "kubectl apply --server-side" if agent.startswith("kubectl") else "server-side apply"
    if manager in _VERBS:
        return _VERBS[manager]
    if not manager:
        return "kubectl rollout undo" if _undo_like(capture, agent) else "a manual change"
    return f"kubectl (field manager {manager})" if agent.startswith("kubectl") else manager


#: the kinds ``kubectl rollout undo`` works on
_ROLLOUT_KINDS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet"})


def _undo_like(capture: model.Capture, agent: str) -> bool:
    """``kubectl rollout undo`` sends no field manager: it replaces a workload's pod template
    (and, for a Deployment, its annotations) with an earlier revision's, as a JSON patch."""
    if capture.object.kind not in _ROLLOUT_KINDS or (agent and not agent.startswith("kubectl")):
        return False
    if capture.delta.patch_type not in (None, "json"):
        return False
    paths = capture.delta.paths
    return any(p.startswith("spec.template") for p in paths) and all(
        p.startswith(("spec.template", "metadata.annotations")) for p in paths
    )


_SET_FIELDS = (
    (
        "image",
        re.compile(r"(^|\.)(containers|initContainers|ephemeralContainers)\[[^]]*\]\.image$"),
    ),
    ("env", re.compile(r"\.env(\[[^]]*\])?(\.|$)|\.envFrom(\[|\.|$)")),
    ("resources", re.compile(r"\.resources(\.|$)")),
    ("serviceaccount", re.compile(r"(^|\.)(serviceAccountName|serviceAccount)$")),
    ("selector", re.compile(r"^spec\.selector(\.|$)")),
    ("subject", re.compile(r"^subjects(\[|\.|$)")),
)


def _set_subcommand(paths: Sequence[str]) -> str | None:
    """``image``, ``env``, ``resources``, … when every changed path belongs to that one."""
    for name, pattern in _SET_FIELDS:
        if paths and all(pattern.search(p) for p in paths):
            return name
    return None


def _rollout_subcommand(capture: model.Capture) -> str:
    if capture.classification == "rollout-restart":
        return "restart"
    if capture.classification == "rollout-pause":
        after = (capture.delta.after or {}).get("spec", {})
        return "pause" if isinstance(after, dict) and after.get("paused") else "resume"
    return "undo"


def describe_object(ref: model.ObjectRef) -> str:
    """``apps/v1 Deployment payments/checkout``; a cluster-scoped object has no namespace."""
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    return f"{ref.api_version} {ref.kind} {where}"


def _replicas_note(capture: model.Capture) -> str:
    """The value change when it is simple: replicas, or one container's image tag."""
    paths = capture.delta.paths
    if paths == ("spec.replicas",):
        before = (capture.delta.before or {}).get("spec", {}).get("replicas")
        after = (capture.delta.after or {}).get("spec", {}).get("replicas")
        if before is not None and after is not None:
            return f" ({before} → {after} replicas)"
    if len(paths) == 1 and paths[0].endswith("].image"):
        was = deltas.value_at(capture.delta.before, paths[0])
        now = deltas.value_at(capture.delta.after, paths[0])
        if isinstance(was, str) and isinstance(now, str):
            repo_was, _, tag_was = was.rpartition(":")
            repo_now, _, tag_now = now.rpartition(":")
            if repo_was and repo_was == repo_now and "/" not in tag_now:
                return f" ({tag_was} → {tag_now})"
            return f" ({was} → {now})"
    return ""


def title(capture: model.Capture) -> str:
    """``breakglass: kubectl edit of deployment payments/checkout by alice``."""
    if capture.source is model.Source.SCAN:
        verb = "created by hand" if capture.operation is model.Operation.CREATE else "drift"
        text = f"breakglass: {capture.object.describe()} {verb} found by scan, made by " + (
            capture.actor.username
            if capture.actor.username != model.UNKNOWN_USER
            else "an unknown user"
        )
        return text if len(text) <= 240 else text[:239] + "…"
    text = (
        f"breakglass: {how(capture)} of {capture.object.describe()} by "
        f"{capture.actor.username}{_replicas_note(capture)}"
    )
    text = " ".join(text.split())
    return text if len(text) <= 240 else text[:239] + "…"


def reason(capture: model.Capture) -> str | None:
    """The engineer's reason, if the object carried a ``breakglass.dev/reason`` annotation."""
    value = capture.labels.get(REASON_ANNOTATION)
    return str(value) if value else None


@dataclass(frozen=True)
class Source:
    """Where in Git the change lands, for the body's Source row."""

    repo: str
    branch: str
    path: str
    owner: str  # e.g. "Argo CD application shop", "Flux Kustomization apps", "repo rule"
    files: tuple[str, ...] = ()


def _when(capture: model.Capture, now: datetime) -> str:
    if capture.source is model.Source.SCAN:
        found = capture.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        who = capture.actor.username
        made = "an unknown user" if who == model.UNKNOWN_USER else who
        if capture.since is None:
            return f"found by scan at {found}, made by {made} (when is not known)"
        since = capture.since.strftime("%Y-%m-%d %H:%M:%S UTC")
        age = _age((now - capture.since).total_seconds())
        return (
            f"found by scan at {found}, made by {made} at least since {since} "
            f"(live for at least {age} when this was written)"
        )
    at = capture.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    minutes = int((now - capture.received_at).total_seconds() // 60)
    return f"{at} (live for {minutes} min when this was written)"


def _age(seconds: float) -> str:
    """``3 days``, ``5 h``, ``12 min``: how long something has been so, roughly."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{max(seconds, 0) / 60:.0f} min"


def body(
    captures: Sequence[model.Capture],
    *,
    cluster: str,
    source: Source,
    diff: str,
    notes: Sequence[str],
    chain_head: str | None,
    now: datetime,
    rendered: Sequence[str] = (),
    not_rendered: Sequence[str] = (),
    render_notes: Sequence[str] = (),
    sessions: Mapping[str, model.Session] | None = None,
) -> str:
    """The PR body for the captures of one object or of a group (newest last).

    Every change is listed with its author: the Who row names each person once (with the
    commands they ran), and a pull request that gathers several changes gets a table with a
    row per capture, so a reviewer sees who did what even when two people touched the object.
    """
    first, last = captures[0], captures[-1]
    people: dict[str, list[model.Capture]] = {}
    for c in captures:
        people.setdefault(c.actor.username, []).append(c)
    who = "; ".join(_who(mine) for mine in people.values())
    paths = list(dict.fromkeys(p for c in captures for p in c.delta.paths))
    what_paths = ", ".join(code(p) for p in paths[:8]) or "the object"
    if len(paths) > 8:
        what_paths += f" and {len(paths) - 8} more"
    ref = last.object
    objects = list(dict.fromkeys(describe_object(c.object) for c in captures))
    if len(objects) > 1:
        shown = ", ".join(code(o) for o in objects[:8])
        if len(objects) > 8:
            shown += f" and {len(objects) - 8} more"
        what = f"{len(objects)} objects: {shown} — {what_paths}"
    else:
        what = f"{code(describe_object(ref))} — {what_paths}"
    rows = [
        ("Who", who),
        ("When", md(_when(first, now))),
        ("What", what),
    ]
    why = next((r for r in (reason(c) for c in reversed(captures)) if r), None)
    known = sessions or {}
    during = [
        known[n] for n in dict.fromkeys(c.session for c in captures if c.session) if n in known
    ]
    if why:
        rows.append(("Why", f"{code(why)} (from the {code(REASON_ANNOTATION)} annotation)"))
    elif during:
        rows.append(("Why", f"{code(during[-1].reason)} (the break-glass session's reason)"))
    else:
        rows.append(("Why", f"not given (set the {code(REASON_ANNOTATION)} annotation next time)"))
    for session in during:
        until = session.ends_at.strftime("%Y-%m-%d %H:%M UTC")
        members = f", with {', '.join(code(m) for m in session.members)}" if session.members else ""
        rows.append(
            (
                "Session",
                f"{code(session.name)} opened by {code(session.owner)}{members}: "
                f"{md(session.reason, limit=300)} (until {until})",
            )
        )
    agents = list(dict.fromkeys(c.actor.user_agent for c in captures if c.actor.user_agent))
    managers = list(
        dict.fromkeys(
            c.actor.field_manager
            for c in captures
            if c.source is model.Source.SCAN and c.actor.field_manager
        )
    )
    if agents:
        rows.append(("How", md("user agent " + ", ".join(agents))))
    elif managers:
        rows.append(("How", md("field managers " + ", ".join(managers) + " (from managedFields)")))
    else:
        rows.append(("How", "—"))
    files = ", ".join(code(f) for f in source.files) or code(source.path or "/")
    rows.append(("Source", f"{files} ({md(source.owner)}, branch {code(source.branch)})"))
    lines = [
        f"### Manual change in {md(cluster)} needs to reach Git",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in rows),
        "",
        *_changes_table(captures),
        fenced(reviewable_diff(diff) or "(no textual diff)", "diff"),
        "",
        *_render_lines(rendered, not_rendered, render_notes),
        "**If you merge**, Git matches production and the next sync keeps this change.",
        "**If you close**, Git keeps its value; production goes back only where the GitOps "
        "controller manages the field (breakglass records which happened).",
        "",
        "- [ ] The change is still wanted after the incident",
        "- [ ] The value is right for every environment this file serves",
        "",
        "<details><summary>Details</summary>",
        "",
    ]
    capture_list = ", ".join(
        f"{code(c.id)} ({c.source.value}"
        + (f", confirmed by audit event {code(c.audit_id)}" if c.audit_id else "")
        + ")"
        for c in captures
    )
    lines.append(f"Captures: {capture_list}.")
    if chain_head:
        lines.append(f"Audit log head: {code(chain_head)}.")
    lines.append("Notes: " + ("; ".join(md(n, limit=400) for n in notes) if notes else "none."))
    if any(c.session for c in captures):
        lines.append("Later changes made in the session will be added to this pull request.")
    elif len({c.object for c in captures}) > 1:
        lines.append("Later edits to these objects will be added to this pull request.")
    else:
        lines.append("Later edits to this object will be added to this pull request.")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _render_lines(
    rendered: Sequence[str], not_rendered: Sequence[str], notes: Sequence[str] = ()
) -> list[str]:
    """What proved the branch (``kustomize build apps/shop``), what else its render changes
    by design, or why nothing could prove it."""
    lines = []
    if rendered:
        lines.append(
            "**Render check:** "
            + ", ".join(_rendered(r) for r in rendered)
            + " on this branch shows the live change"
            + (" and what follows from it" if notes else " and nothing else")
            + " (compared with the base branch)."
        )
    if notes:
        lines.append("**The render also changes** (review these):")
        lines.extend(f"- {md(n, limit=600)}" for n in notes[:10])
    if not_rendered:
        lines.append("**Not render-checked:** " + "; ".join(md(n) for n in not_rendered) + ".")
    return [*lines, ""] if lines else []


def _rendered(what: str) -> str:
    """A render for the body: the command as code, a plain manifest by its path."""
    if what.startswith("the manifest "):
        return f"the manifest {code(what.removeprefix('the manifest '))}"
    return code(what)


def _who(captures: Sequence[model.Capture]) -> str:
    """One person and the commands they ran: ``alice (groups: oncall) — kubectl scale``."""
    actor = captures[-1].actor
    if actor.username == model.UNKNOWN_USER and captures[-1].source is model.Source.SCAN:
        manager = f" with {code(actor.field_manager)}" if actor.field_manager else ""
        return (
            f"unknown: found by {code('breakglass scan')} in the object's field managers"
            f"{manager}; the API server's audit log (`breakglass scan --audit-log`) can name them"
        )
    text = code(actor.username)
    if actor.groups:
        groups = ", ".join(code(g) for g in actor.groups if not g.startswith("system:"))
        if groups:
            text += f" (groups: {groups})"
    if actor.impersonator:
        text += f", impersonated by {code(actor.impersonator)}"
    verbs = list(dict.fromkeys(how(c) for c in captures))
    text += f" — {md(', '.join(verbs))}"
    subresources = list(dict.fromkeys(c.object.subresource for c in captures))
    if subresources == ["scale"] and len(captures) == 1:
        text += f" (the {code('scale')} subresource)"
    return text


def _changes_table(captures: Sequence[model.Capture]) -> list[str]:
    """A row per capture (author, command, object when several, fields), for a PR that
    gathers several changes."""
    if len(captures) < 2:
        return []
    several = len({describe_object(c.object) for c in captures}) > 1
    if several:
        lines = ["| Change | By | With | Object | Fields | At |", "|---|---|---|---|---|---|"]
    else:
        lines = ["| Change | By | With | Fields | At |", "|---|---|---|---|---|"]
    for number, c in enumerate(captures, 1):
        fields = ", ".join(code(p) for p in c.delta.paths[:4]) or "the object"
        if len(c.delta.paths) > 4:
            fields += f" and {len(c.delta.paths) - 4} more"
        at = c.received_at.strftime("%H:%M:%S UTC")
        obj = f" {code(describe_object(c.object))} |" if several else ""
        lines.append(
            f"| {number} | {code(c.actor.username)} | {md(how(c))} |{obj} {fields} | {at} |"
        )
    return [*lines, ""]


def pr_title(captures: Sequence[model.Capture], *, session: model.Session | None = None) -> str:
    """The title of a PR gathering ``captures`` (oldest first): a session's reads as its
    reason; one change reads as ``title``; several name every author, so the first person is
    not credited with all, and several objects are counted."""
    first = captures[0]
    authors = list(dict.fromkeys(c.actor.username for c in captures))
    verbs = list(dict.fromkeys(how(c) for c in captures))
    objects = list(dict.fromkeys(c.object.describe() for c in captures))
    names = authors[0] if len(authors) == 1 else ", ".join(authors[:-1]) + f" and {authors[-1]}"
    changes = f"{len(captures)} manual {'change' if len(captures) == 1 else 'changes'}"
    if session is not None:
        reach = f" to {len(objects)} objects" if len(objects) > 1 else f" of {objects[0]}"
        text = f"breakglass: {session.reason} ({changes}{reach} by {names})"
    elif len(authors) == 1 and len(verbs) == 1 and len(objects) == 1:
        return title(captures[-1])
    elif len(objects) > 1:
        spaces = list(dict.fromkeys(c.object.namespace for c in captures if c.object.namespace))
        where = f" in {', '.join(spaces[:3])}" if spaces else ""
        text = (
            f"breakglass: {changes} ({', '.join(verbs)}) to {len(objects)} objects{where} "
            f"by {names}"
        )
    else:
        text = f"breakglass: {changes} ({', '.join(verbs)}) of {first.object.describe()} by {names}"
    text = " ".join(text.split())
    return text if len(text) <= 240 else text[:239] + "…"


def commit_message(
    capture: model.Capture, *, capture_ids: Sequence[str], chain_head: str | None
) -> str:
    """Subject, a short body, and ``Breakglass-Capture`` / ``Breakglass-Audit-Head`` trailers."""
    subject = title(capture).removeprefix("breakglass: ")
    lines = [
        f"breakglass: {subject}"[:200],
        "",
        f"Recorded in cluster {capture.cluster} at "
        f"{capture.received_at.strftime('%Y-%m-%d %H:%M:%S UTC')}.",
        "Changed: " + (", ".join(capture.delta.paths) or "the object"),
        "",
        f"Breakglass-Capture: {', '.join(capture_ids)}",
    ]
    if chain_head:
        lines.append(f"Breakglass-Audit-Head: {chain_head}")
    return "\n".join(lines) + "\n"


def follow_up_comment(capture: model.Capture, diff: str) -> str:
    """The comment added when a later edit of the same object lands on an open PR; ``diff``
    is that edit's own commit, not the whole pull request again."""
    return "\n".join(
        [
            f"Another manual change by {code(capture.actor.username)} "
            f"({md(how(capture))}) was added to this pull request: "
            + (", ".join(code(p) for p in capture.delta.paths) or "the object"),
            "",
            fenced(reviewable_diff(diff) or "(no textual diff)", "diff"),
        ]
    )


def cannot_express(capture: model.Capture, *, why: str, delta: str, source: Source) -> str:
    """Issue body for a change the engine cannot write into this repository."""
    return "\n".join(
        [
            f"### Manual change in {md(capture.cluster)} could not be backfilled automatically",
            "",
            f"{code(capture.actor.username)} changed "
            f"{code(capture.object.describe())} with {md(how(capture))} at "
            f"{capture.received_at.strftime('%Y-%m-%d %H:%M:%S UTC')}.",
            "",
            f"**Why it needs a human:** {md(why, limit=1000)}",
            "",
            f"Repository path: {code(source.path or '/')} ({md(source.owner)}).",
            "",
            "The change, as captured (server noise removed, secret values redacted):",
            "",
            fenced(delta, "yaml"),
            "",
            f"Capture: {code(capture.id)}.",
        ]
    )


def render_failed(
    captures: Sequence[model.Capture],
    *,
    problems: Sequence[str],
    diff: str,
    source: Source,
    cluster: str = "",
) -> str:
    """Issue body when the branch breakglass wrote does not render as the live change: who
    changed what, what the render shows instead, what breakglass wrote, and what to do.  No
    pull request was opened."""
    last = captures[-1]
    people = "; ".join(
        _who([c for c in captures if c.actor.username == name])
        for name in dict.fromkeys(c.actor.username for c in captures)
    )
    at = captures[0].received_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    why = next((r for r in (reason(c) for c in reversed(captures)) if r), None)
    paths = list(dict.fromkeys(p for c in captures for p in c.delta.paths))
    rows = [
        ("Who", people),
        ("When", md(at)),
        (
            "What",
            f"{code(describe_object(last.object))} — "
            + (", ".join(code(p) for p in paths[:8]) or "the object"),
        ),
        ("Why", code(why) if why else "not given"),
        (
            "Source",
            f"{code(source.path or '/')} ({md(source.owner)}, branch {code(source.branch)})",
        ),
    ]
    return "\n".join(
        [
            f"### Manual change in {md(cluster or last.cluster)} needs a human: "
            "the render does not match",
            "",
            "| | |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in rows),
            "",
            "breakglass wrote the change into Git, rendered what that branch would deploy and "
            "compared it with the live object. They differ, so **no pull request was opened**: "
            "merging it would not give production what it runs now. Until Git holds this "
            "change, the next sync (or self-heal) puts production back to what Git says.",
            "",
            "**What the render shows:**",
            "",
            *(f"- {md(p, limit=1000)}" for p in problems[:20]),
            "",
            f"**What breakglass wrote** into {code(source.path or '/')}:",
            "",
            fenced(reviewable_diff(diff) or "(no textual diff)", "diff"),
            "",
            "**What to do:** find what sets the field in the render (often a kustomize "
            "transformer breakglass does not follow: `replacements`, `vars`, a patch of "
            "another kustomization, or a Helm template that computes it), change the value "
            "there by hand, and check with the same render command. The diff above shows "
            "where breakglass tried to write it.",
            "",
            "Captures: " + ", ".join(code(c.id) for c in captures) + ".",
        ]
    )
