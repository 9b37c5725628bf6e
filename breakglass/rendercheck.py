"""Proving a backfill branch before it is pushed: render the base and the branch, compare.

The worker calls ``prove`` after it has committed every change of a pass into its worktree and
before it pushes.  This module does the I/O around the pure decisions of
``breakglass.gitops.proof``: it plans the renders, runs ``kustomize build``/``helm template``
(``breakglass.renderexec``) in the branch's worktree and in a worktree of the base, reads plain
manifests from both, and hands the documents to ``proof.compare``.

What a failed or impossible check means:

- a render of the branch that differs from the base plus the change → ``problems``: no PR,
  a "needs a human" issue says what the engine wrote and what the render shows;
- the branch does not render but the base does → a problem too (the edit broke the build);
- the base does not render either → the repository was broken before: the check cannot say
  anything, and the pull request says so (``skipped``);
- no kustomize or helm binary → ``skipped`` in ``auto`` mode (said in the PR), a problem in
  ``required`` mode;
- a Flux HelmRelease whose chart or values are not all in the checkout → ``skipped``.

Rendered documents may hold Secret values in the clear: they stay in memory, are never logged
and never reach a message (problems name Secret fields only as "differs").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from breakglass import logs, renderexec
from breakglass.gitops import index, jsonfile, kustomize, proof

log = logs.get(__name__)


@dataclass(frozen=True)
class Tools:
    """The binaries and the mode from ``backfill.*`` settings."""

    mode: str = "auto"  # required | auto | off
    kustomize: str | None = None
    helm: str | None = None


@dataclass
class Proof:
    """The outcome: ``checked`` renders, ``problems`` (no PR), ``notes`` for the reviewer
    (what the render derives from the change), or why it was ``skipped``."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


#: a base render: its documents, ``MISSING`` (nothing at that path) or the error it raised
BaseRender = list[dict[str, object]] | str
MISSING: Final = "missing"


class BaseRenders:
    """Renders of base commits, kept between passes: most backfills start from the same head
    of the target branch, so its render is made once, not once per pull request."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._kept: dict[str, BaseRender] = {}

    def get(self, key: str) -> BaseRender | None:
        return self._kept.get(key)

    def put(self, key: str, value: BaseRender) -> None:
        self._kept[key] = value
        while len(self._kept) > self.limit:
            self._kept.pop(next(iter(self._kept)))


async def prove(
    *,
    branch_tree: Path,
    base_tree: Callable[[], Awaitable[Path]],
    base_commit: str,
    changed: Sequence[str],
    changes: Sequence[proof.Change],
    idx: index.Index,
    subpath: str,
    helm: proof.HelmApp | None,
    tools: Tools,
    cache: BaseRenders | None = None,
    flux_release: tuple[str, str] | None = None,
) -> Proof:
    """Render ``changed`` files' applications on the branch and on ``base_commit`` (whose
    checkout ``base_tree`` makes, only when a base render is not in ``cache``) and judge the
    branch."""
    started = time.monotonic()
    result = Proof()
    if tools.mode == "off":
        return result
    cache = cache if cache is not None else BaseRenders()
    if flux_release is not None:
        release, namespace = flux_release
        renders = [proof.Render("flux-helm", "", release=release, namespace=namespace)]
    else:
        tree = await asyncio.to_thread(kustomize.Tree.build, idx)
        renders = proof.plan(changed, tree=tree, subpath=subpath, helm=helm)
    held: set[proof.Key] = set()

    async def base(render: proof.Render) -> BaseRender:
        key = f"{base_commit}|{render.describe()}|{render.values_files}|{render.values!r}"
        found = cache.get(key)
        if found is None:
            root = await base_tree()
            if not (root / render.path).exists():
                found = MISSING  # a new application or manifest: all of it is the change
            else:
                try:
                    found = await asyncio.to_thread(_render, render, root, tools)
                except (renderexec.RenderError, ValueError, proof.Unrenderable) as exc:
                    found = str(exc) or type(exc).__name__
            cache.put(key, found)
        return found

    for render in renders:
        what = render.describe()
        try:
            after = await asyncio.to_thread(_render, render, branch_tree, tools)
        except renderexec.RenderToolMissing as exc:
            if tools.mode == "required":
                result.problems.append(f"{what} could not run: {exc}")
            else:
                result.skipped.append(f"{what} needs a binary that is not installed ({exc.hint})")
            continue
        except proof.Unrenderable as exc:
            result.skipped.append(f"{what}: {exc}")
            continue
        except (renderexec.RenderError, ValueError) as exc:
            if isinstance(await base(render), str):
                result.skipped.append(f"{what} fails on the base branch too")
            else:
                result.problems.append(
                    f"{what} works on the base branch but fails on this one: {exc}"
                )
            continue
        before = await base(render)
        if before == MISSING:
            before = []
        elif isinstance(before, str):
            result.skipped.append(f"{what} fails on the base branch")
            continue
        outcome = proof.compare(before, after, changes, what=what, derived=render.kind == "helm")
        result.problems.extend(outcome.problems)
        result.notes.extend(outcome.notes)
        held |= outcome.held
        result.checked.append(what)
    if renders and not result.skipped and result.checked:
        result.problems.extend(proof.unheld(changes, held))
    result.seconds = time.monotonic() - started
    log.info(
        "render_check",
        checked=result.checked,
        problems=len(result.problems),
        skipped=result.skipped,
        seconds=round(result.seconds, 3),
    )
    return result


def _render(render: proof.Render, root: Path, tools: Tools) -> list[dict[str, object]]:
    if render.kind == "kustomize":
        text = renderexec.kustomize_build(tools.kustomize, root, render.path)
        return proof.documents(text)
    if render.kind == "helm":
        text = renderexec.helm_template(
            tools.helm,
            root,
            render.path,
            release=render.release,
            namespace=render.namespace,
            values_files=[f for f in render.values_files if (root / f).is_file()],
            values=render.values,
        )
        return proof.documents(text)
    if render.kind == "flux-helm":
        app = proof.flux_helm_app(index.Index.build(root), render.release, render.namespace)
        if isinstance(app, str):
            raise proof.Unrenderable(app)
        chart = proof.Render(
            "helm", app.chart, release=app.release, namespace=app.namespace, values=app.values
        )
        return _render(chart, root, tools)
    path = root / render.path
    if not path.is_file():
        return []  # deleted (or not yet created) on this side
    text = path.read_text(encoding="utf-8")
    return proof.documents(text, json_file=jsonfile.is_json(render.path))
