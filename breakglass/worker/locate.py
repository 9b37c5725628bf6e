"""Where a capture's object is kept in Git: Argo CD, then Flux, then the ``repos:`` rules.

Reads the owner objects from the cluster when there is one (the live object's labels and
annotations, the Argo CD ``Application``, the Flux ``Kustomization`` or ``HelmRelease`` and its
source) and remembers, in the ``Context``, what the engine needs later: the live object's owner
hints, the Application, the Kustomization, a reason annotation set after the fix.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from breakglass import logs, model, prtext, repos
from breakglass.capture.admission import owner_hints
from breakglass.errors import PermanentError
from breakglass.forge.git import safe_branch
from breakglass.settings import ForgeSettings, Settings
from breakglass.worker.context import Context

log = logs.get(__name__)


async def locate(ctx: Context, capture: model.Capture) -> repos.RepoTarget | None:
    """Argo CD → Flux → repo rules, reading owner objects from the cluster when we can."""
    metadata: dict[str, Any] = {"labels": {}, "annotations": {}}
    hints = dict(capture.labels)
    for key, value in hints.items():
        section = "annotations" if key == repos.ARGO_TRACKING else "labels"
        metadata[section][key] = value
    if ctx.cluster is not None:
        ref = capture.object
        live = None
        if capture.operation is not model.Operation.DELETE:
            try:
                live = await ctx.live_object(ref)
            except PermanentError as exc:
                # e.g. Secrets without the read-secrets component: the owner hints the
                # capture carries are enough to find the repository
                log.info("live_object_unreadable", capture_id=capture.id, error=str(exc))
        if live is not None:
            meta = live.get("metadata") or {}
            metadata["labels"].update(meta.get("labels") or {})
            metadata["annotations"].update(meta.get("annotations") or {})
            # a scale subresource capture carries no labels: the engine finds a Helm
            # release by the live object's
            ctx.live_hints[capture.id] = owner_hints(live)
            why = (meta.get("annotations") or {}).get(prtext.REASON_ANNOTATION)
            if isinstance(why, str) and why:
                ctx.live_reasons[(ref.kind, ref.namespace, ref.name)] = why
        app = repos.argo_application(metadata, argo_namespace=ctx.settings.kube.argocd_namespace)
        if app is not None:
            found = await ctx.cluster.get(**dataclasses.asdict(app))
            if found is not None and (target := repos.from_argo(found)) is not None:
                ctx.live_apps[capture.id] = found
                return target
        owner_ref = repos.flux_owner(metadata)
        if owner_ref is not None:
            owner = await ctx.cluster.get(**dataclasses.asdict(owner_ref))
            applier = repos.flux_applier(owner) if owner is not None else None
            if applier is not None and owner_ref.plural == repos.FLUX_HR[2]:
                # the values to edit are in the HelmRelease manifest, which is in the
                # repository path of the Kustomization that applied it (not the chart's)
                owner = await ctx.cluster.get(**dataclasses.asdict(applier)) or owner
            source_ref = repos.flux_source(owner) if owner else None
            source = (
                await ctx.cluster.get(**dataclasses.asdict(source_ref)) if (source_ref) else None
            )
            if owner is not None and owner_ref.plural == repos.FLUX_KS[2]:
                ctx.live_kustomizations[capture.id] = owner
            if owner is not None and source is not None:
                target = repos.from_flux(owner, source)
                if target is not None and owner_ref.plural == repos.FLUX_HR[2]:
                    target = dataclasses.replace(target, flux_helm=True)
                if target is not None:
                    return target
    return repos.from_rules(
        repos.rules_from(ctx.settings.repos),
        namespace=capture.object.namespace,
        labels=metadata["labels"],
    )


def forge_for(settings: Settings, target: repos.RepoTarget) -> ForgeSettings:
    return settings.forge_in_use(target.forge)


def branch_for(settings: Settings, ref: model.ObjectRef) -> str:
    return safe_branch(
        settings.backfill.branch_prefix,
        settings.cluster,
        ref.namespace or "_cluster",
        ref.kind.lower(),
        ref.name,
    )
