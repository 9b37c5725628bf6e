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
- a Flux HelmRelease whose chart or values are not all in the checkout → ``skipped``;
- objects applied by a Flux Kustomization with post-build variables are rendered as
  kustomize-controller applies them: every render of its ``spec.path`` (which is always
  rendered, since the change may be written to a variable only) gets the variables the
  checkout sets, the base's on the base and the branch's on the branch.  A Kustomization the
  checkout does not hold (once) is rendered without them, as before: the engine writes no
  variable it cannot find.

Rendered documents may hold Secret values in the clear: they stay in memory, are never logged
and never reach a message (problems name Secret fields only as "differs").
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
    flux_kustomization: tuple[str, str] | None = None,
    kustomizations: Sequence[Mapping[str, object]] = (),
) -> Proof:
    """Render ``changed`` files' applications on the branch and on ``base_commit`` (whose
    checkout ``base_tree`` makes, only when a base render is not in ``cache``) and judge the
    branch.  ``flux_kustomization`` names the Flux Kustomization that applied the objects
    (``kustomizations``: as the cluster has it), whose post-build variables are applied."""
    started = time.monotonic()
    result = Proof()
    if tools.mode == "off":
        return result
    cache = cache if cache is not None else BaseRenders()
    branch_vars: proof.Substitution | None = None
    if flux_release is not None:
        release, namespace = flux_release
        renders = [proof.Render("flux-helm", "", release=release, namespace=namespace)]
    else:
        tree = await asyncio.to_thread(kustomize.Tree.build, idx)
        renders = proof.plan(changed, tree=tree, subpath=subpath, helm=helm)
        if flux_kustomization is not None:
            found = await asyncio.to_thread(
                functools.partial(
                    proof.flux_substitution,
                    idx,
                    *flux_kustomization,
                    kustomizations,
                    changed=set(changed),
                )
            )
            # without a manifest of it here, or variables, the engine wrote no variable, and
            # the renders are judged as they come out of kustomize
            if isinstance(found, proof.Substitution) and found.active:
                branch_vars = found
                app = proof.application(tree, idx, found.path)
                renders += [r for r in app if r not in renders]
    held: set[proof.Key] = set()
    base_vars: list[proof.Substitution | str] = []

    async def base_substitution() -> proof.Substitution | str:
        if not base_vars:
            assert flux_kustomization is not None
            assert branch_vars is not None
            root = await base_tree()
            base_idx = await asyncio.to_thread(index.Index.build, root)
            base_vars.append(
                await asyncio.to_thread(
                    functools.partial(
                        proof.flux_substitution,
                        base_idx,
                        *flux_kustomization,
                        manifest=branch_vars.manifest,
                    )
                )
            )
        return base_vars[0]

    async def base(render: proof.Render, substituted: bool = False) -> BaseRender:
        """The base's render (with the base's post-build variables when ``substituted``);
        the documents before and after substitution come from one run and are both kept."""
        key = f"{base_commit}|{render.describe()}|{render.values_files}|{render.values!r}"
        variables_key = f"{key}|post-build variables of {flux_kustomization}"
        found = cache.get(variables_key if substituted else key)
        if found is not None:
            return found
        root = await base_tree()
        raw: BaseRender
        with_variables: BaseRender | None = None
        if not (root / render.path).exists():
            raw = with_variables = MISSING  # a new application or manifest: all of it is new
        else:
            try:
                text, json_file = await asyncio.to_thread(render_text, render, root, tools)
                raw = proof.documents(text, json_file=json_file)
            except (renderexec.RenderError, ValueError, proof.Unrenderable) as exc:
                raw = with_variables = str(exc) or type(exc).__name__
            if substituted and not isinstance(raw, str):
                variables = await base_substitution()
                try:
                    with_variables = (
                        variables
                        if isinstance(variables, str)
                        else proof.documents(text, json_file=json_file, substitution=variables)
                    )
                except ValueError as exc:
                    with_variables = str(exc)
        cache.put(key, raw)
        if substituted:
            assert with_variables is not None
            cache.put(variables_key, with_variables)
            return with_variables
        return raw

    for render in renders:
        what = render.describe()
        variables = branch_vars if _applied_by(render, branch_vars) else None
        try:
            text, json_file = await asyncio.to_thread(render_text, render, branch_tree, tools)
            raw_after = proof.documents(text, json_file=json_file)
            after = proof.documents(text, json_file=json_file, substitution=variables)
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
        before = await base(render, substituted=variables is not None)
        if before == MISSING:
            before = []
        elif isinstance(before, str):
            result.skipped.append(f"{what} fails on the base branch")
            continue
        by_variables: set[proof.Key] = set()
        if variables is not None:
            what = f"{what} with the post-build variables of {variables.applier}"
            raw_before = await base(render)
            if isinstance(raw_before, list):
                by_variables = _same_before_substitution(raw_before, raw_after)
        outcome = proof.compare(
            before,
            after,
            changes,
            what=what,
            derived=render.kind == "helm",
            carriers=branch_vars.carriers if branch_vars is not None else None,
            by_variables=by_variables,
        )
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


def _applied_by(render: proof.Render, variables: proof.Substitution | None) -> bool:
    """Whether ``render`` shows objects the Flux Kustomization applies (its ``spec.path``)."""
    return (
        variables is not None
        and render.kind in ("kustomize", "plain")
        and index.under(render.path, variables.path)
    )


def _same_before_substitution(
    before: list[dict[str, object]], after: list[dict[str, object]]
) -> set[proof.Key]:
    """The objects whose render before substitution is the same on both sides."""
    old, new = proof.keyed(before), proof.keyed(after)
    return {key for key, doc in old.items() if new.get(key) == doc}


def render_text(render: proof.Render, root: Path, tools: Tools) -> tuple[str, bool]:
    """The rendered stream (or the manifest's text), and whether it is JSON."""
    if render.kind == "kustomize":
        return renderexec.kustomize_build(tools.kustomize, root, render.path), False
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
        return text, False
    if render.kind == "flux-helm":
        app = proof.flux_helm_app(index.Index.build(root), render.release, render.namespace)
        if isinstance(app, str):
            raise proof.Unrenderable(app)
        chart = proof.Render(
            "helm", app.chart, release=app.release, namespace=app.namespace, values=app.values
        )
        return render_text(chart, root, tools)
    path = root / render.path
    if not path.is_file():
        return "", False  # deleted (or not yet created) on this side
    return path.read_text(encoding="utf-8"), jsonfile.is_json(render.path)
