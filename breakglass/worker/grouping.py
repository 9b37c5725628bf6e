"""Which pull request each object's changes go to: one per break-glass session and
repository, one per person's burst of changes to a repository, or one per object.

For each located object, in order:

1. an object that already has an open pull request keeps it (two pull requests editing one
   object would conflict);
2. a change made in a session goes to the session's pull request for that repository (branch
   ``<prefix>/<cluster>/session/<name>``), opened by the first and updated by the others;
3. outside sessions, with ``backfill.group_window_seconds`` > 0, a person's change joins their
   open pull request to the same repository whose newest change is within the window, or the
   one this pass starts for them (a burst of fifteen ``kubectl scale`` becomes one pull
   request); a change found by a scan, whose author is not known, is never grouped by person;
4. otherwise the object's own branch, as before grouping existed.

A group's branch is named after its first object (3, 4) or its session (2), and each capture
remembers its branch, so a later change finds the pull request it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from breakglass import model, repos
from breakglass.forge.git import safe_branch
from breakglass.worker import locate
from breakglass.worker.context import Context
from breakglass.worker.inputs import object_key

Key = tuple[str, str, str, str]


@dataclass
class Located:
    """One object's captures (oldest first) and the repository that owns it."""

    captures: list[model.Capture]
    target: repos.RepoTarget


@dataclass
class Group:
    """The captures (of one or more objects) that go to one branch and pull request."""

    target: repos.RepoTarget
    branch: str
    session: str | None = None
    captures: list[model.Capture] = field(default_factory=list)
    #: per object, the capture ``locate`` ran for (what it read is kept under its id)
    firsts: dict[Key, str] = field(default_factory=dict)

    def add(self, located: Located) -> None:
        self.captures.extend(located.captures)
        self.captures.sort(key=lambda c: c.id)
        self.firsts.setdefault(object_key(located.captures[0].object), located.captures[0].id)


def session_branch(ctx: Context, session: str) -> str:
    return safe_branch(
        ctx.settings.backfill.branch_prefix, ctx.settings.cluster, "session", session
    )


def is_session_branch(ctx: Context, branch: str) -> bool:
    head = session_branch(ctx, "x")[:-1]
    return branch.startswith(head) and "/" not in branch[len(head) :]


def branch_of(ctx: Context, capture: model.Capture) -> str:
    """The branch a capture's pull request is on (captures from before groups: the object's)."""
    return capture.branch or locate.branch_for(ctx.settings, capture.object)


def personal(capture: model.Capture) -> bool:
    """Whether a change may be grouped with its author's others."""
    return capture.source is not model.Source.SCAN and capture.actor.username not in (
        "",
        model.UNKNOWN_USER,
    )


async def assign(ctx: Context, located: list[Located]) -> list[Group]:
    window = timedelta(seconds=ctx.settings.backfill.group_window_seconds)
    now = ctx.clock()
    open_now = await ctx.captures_in("pr_open")
    by_object = {object_key(c.object): branch_of(ctx, c) for c in open_now}
    recent: dict[str, dict[str, model.Capture]] = {}
    for capture in open_now:
        if capture.session is None and personal(capture) and now - capture.received_at <= window:
            newest = recent.setdefault(capture.actor.username, {})
            branch = branch_of(ctx, capture)
            if branch not in newest or newest[branch].received_at < capture.received_at:
                newest[branch] = capture
    groups: dict[tuple[str, str, str], Group] = {}
    started: dict[tuple[str, str, str], str] = {}  # (user, repo, base) → branch this pass
    for item in sorted(located, key=lambda x: x.captures[0].id):
        first, target = item.captures[0], item.target
        session = next((c.session for c in item.captures if c.session), None)
        key = object_key(first.object)
        if key in by_object:
            branch = by_object[key]
        elif session is not None:
            branch = session_branch(ctx, session)
        elif window.total_seconds() > 0 and personal(first):
            mine = (first.actor.username, target.url, target.branch)
            joined = started.get(mine) or await _open_burst(
                ctx, target, recent.get(first.actor.username, {})
            )
            branch = joined or locate.branch_for(ctx.settings, first.object)
            started[mine] = branch
        else:
            branch = locate.branch_for(ctx.settings, first.object)
        group = groups.setdefault(
            (target.url, target.branch, branch), Group(target, branch, session=session)
        )
        group.add(item)
    return list(groups.values())


async def _open_burst(
    ctx: Context, target: repos.RepoTarget, candidates: dict[str, model.Capture]
) -> str | None:
    """The branch of the person's open pull request to this repository with the newest
    change, if its pull request is still open there."""
    forge = locate.forge_for(ctx.settings, target)
    provider = ctx.provider(forge, target.url)
    for branch, _ in sorted(candidates.items(), key=lambda kv: kv[1].received_at, reverse=True):
        if is_session_branch(ctx, branch):
            continue  # a session's pull request takes the session's changes only
        pr = await provider.find_by_branch(branch)
        if pr is not None and pr.state == "open":
            return branch
    return None
