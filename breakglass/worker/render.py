"""Prove a branch before it is pushed: render the base and the branch and compare.

What renders a change: the kustomizations or manifests of the changed files, the Argo CD
Application's Helm chart, or the Flux HelmRelease named on the object (``rendercheck`` runs
the tools, ``gitops.proof`` judges).  A branch that does not render as the change is never
pushed: a "needs a human" issue says what the render showed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from breakglass import logs, model, prtext, rendercheck, repos
from breakglass.forge.git import Mirror
from breakglass.gitops import index, proof
from breakglass.worker import inputs
from breakglass.worker.context import Context, PassSummary
from breakglass.worker.inputs import engine_inputs

if TYPE_CHECKING:
    from breakglass.worker.apply import Job

log = logs.get(__name__)


async def prove(
    ctx: Context,
    applied: Sequence[model.Capture],
    target: repos.RepoTarget,
    mirror: Mirror,
    tree: Path,
    idx: index.Index,
    *,
    start: str,
    files: Sequence[str],
) -> rendercheck.Proof:
    """Render the base (``start``) and the branch (``tree``) and judge the branch.

    What renders the change: the kustomizations or manifests of the changed files, the
    Argo CD Application's chart, or the Flux HelmRelease named on the object.  A change no
    render can hold (Helm values of a chart that is not in this repository) is not
    checked, and the pull request says so.
    """
    conf = ctx.settings.backfill
    tools = rendercheck.Tools(conf.render_check, conf.kustomize_binary, conf.helm_binary)
    if conf.render_check == "off":
        return rendercheck.Proof()
    helm_app = None
    skipped = None
    flux_release = None
    flux_kustomization = None
    hints = {k: v for c in applied for k, v in {**ctx.live_hints.get(c.id, {}), **c.labels}.items()}
    kustomizations = [k for c in applied if (k := ctx.live_kustomizations.get(c.id))]
    if target.flux_helm:
        name = hints.get(repos.FLUX_HR_NAME)
        if name:
            flux_release = (name, hints.get(repos.FLUX_HR_NAMESPACE) or "flux-system")
        else:
            skipped = "the HelmRelease that renders this object is not named on it"
    elif target.helm:
        chart = target.path.strip("/")
        if (tree / chart / "Chart.yaml").is_file():
            namespace = target.namespace or applied[-1].object.namespace
            helm_app = proof.HelmApp(
                chart, target.release, namespace, target.value_files, target.values
            )
        else:
            skipped = "the Helm chart is not in this repository"
    elif hints.get(repos.FLUX_KS_NAME):
        # applied by a Flux Kustomization: its post-build variables are part of the render
        flux_kustomization = (
            hints[repos.FLUX_KS_NAME],
            hints.get(repos.FLUX_KS_NAMESPACE) or "flux-system",
        )
    if skipped is not None:
        checked = rendercheck.Proof(skipped=[skipped])
    else:
        changes = []
        for capture in applied:
            old, new = engine_inputs(capture)
            ref = capture.object
            changes.append(proof.Change(ref.group, ref.kind, ref.namespace, ref.name, old, new))
        async with contextlib.AsyncExitStack() as stack:
            made: list[Path] = []

            async def base_tree() -> Path:
                if not made:
                    made.append(await stack.enter_async_context(mirror.worktree(start)))
                return made[0]

            checked = await rendercheck.prove(
                branch_tree=tree,
                base_tree=base_tree,
                base_commit=start,
                changed=files,
                changes=changes,
                idx=idx,
                subpath=target.path,
                helm=helm_app,
                tools=tools,
                cache=ctx.base_renders,
                flux_release=flux_release,
                flux_kustomization=flux_kustomization,
                kustomizations=kustomizations,
            )
        ctx.metrics.render_seconds.observe(checked.seconds)
    result = "failed" if not checked.ok else "skipped" if checked.skipped else "proven"
    ctx.metrics.render_checks.labels(result).inc()
    return checked


async def render_failed(
    ctx: Context,
    job: Job,
    applied: Sequence[model.Capture],
    checked: rendercheck.Proof,
    tree: Path,
    summary: PassSummary,
) -> None:
    """The branch does not render as the change: push nothing, ask a human, say why."""
    head = await job.mirror.git.run("rev-parse", "HEAD", cwd=tree)
    diff = await job.mirror.diff(job.start, head.strip())
    target = job.target
    source = prtext.Source(target.url, target.branch, target.path, target.owner)
    handles, _ = inputs.assignees(ctx.settings, applied, job.forge)
    await ctx.fence()
    url = await job.provider.open_issue(
        title=prtext.pr_title(applied) + " (needs a human)",
        body=prtext.render_failed(
            applied,
            problems=checked.problems,
            diff=diff,
            source=source,
            cluster=ctx.settings.cluster,
        ),
        labels=ctx.settings.backfill.labels,
        assignees=handles,
    )
    reason = "render check failed: " + "; ".join(checked.problems)
    for capture in applied:
        await ctx.fail(capture, reason[:2000], url=url)
        summary.failed += 1
    log.error("render_check_failed", url=url, captures=[c.id for c in applied])
