"""Build what only the worker talks to: the cluster reader and the forge providers.

The SDKs behind them (kubernetes_asyncio, PyGithub, python-gitlab) are imported only when a
configured entry needs them, so a worker on embedded defaults (a local forge, no cluster)
loads none of them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from breakglass import logs
from breakglass.errors import PermanentError
from breakglass.forge import Provider
from breakglass.settings import ForgeSettings, Settings

if TYPE_CHECKING:
    from breakglass.kube import Cluster

log = logs.get(__name__)


async def connect_cluster(settings: Settings) -> Cluster | None:
    """The cluster reader ``kube:`` asks for; ``None`` when there is none to read."""
    mode = settings.kube.mode
    if mode == "off":
        return None
    if mode == "auto":
        if settings.kube.kubeconfig is not None:
            mode = "kubeconfig"
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            mode = "in-cluster"
        else:
            log.info(
                "cluster_reads_off",
                hint="no kubeconfig and not in a pod: provisional "
                "captures wait for audit confirmation",
            )
            return None
    from breakglass.kube import KubeCluster

    return await KubeCluster.connect(
        kubeconfig=str(settings.kube.kubeconfig) if mode == "kubeconfig" else None,
        context=settings.kube.context,
    )


def make_provider(forge: ForgeSettings, *, remote: str, settings: Settings) -> Provider:
    """The provider for one forge entry (SDK modules are imported only when used)."""
    if forge.kind == "local":
        from breakglass.forge.local import LocalProvider

        records = forge.records_dir or settings.state_dir / "pull-requests"
        return LocalProvider(records, remote=remote)
    token = settings.secret(forge.token_env) if forge.token_env else None
    if forge.kind == "github":
        from breakglass.forge.github import DEFAULT_BASE_URL as GITHUB
        from breakglass.forge.github import GitHubProvider

        private_key = None
        if forge.private_key_file is not None:
            try:
                private_key = forge.private_key_file.read_text()
            except OSError as exc:
                raise PermanentError(
                    f"cannot read the GitHub App key {forge.private_key_file}: {exc.strerror}"
                ) from exc
        return GitHubProvider(
            forge.repo,
            token=token,
            app_id=forge.app_id,
            private_key=private_key,
            installation_id=forge.installation_id,
            base_url=forge.base_url or GITHUB,
        )
    from breakglass.forge.gitlab import DEFAULT_BASE_URL as GITLAB
    from breakglass.forge.gitlab import GitLabProvider

    if not token:
        raise PermanentError(
            f"forge {forge.name!r}: environment variable {forge.token_env} is empty",
            hint="export the GitLab token (api scope) in it",
        )
    return GitLabProvider(forge.repo, token=token, base_url=forge.base_url or GITLAB)
