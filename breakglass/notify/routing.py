"""Which destinations a notification goes to.

Pure.  A destination takes a notification when its ``events`` list the notification's kind,
one of its ``namespaces`` globs matches the object's namespace, and one of its
``applications`` globs matches the object's GitOps application (``report.build.application``:
"Argo CD checkout", "Flux apps", "Flux HelmRelease web", "OpenTofu prod" for a Terraform root;
a glob may name the application with or without its tool, ``checkout`` or ``Argo CD check*``).
Something with no namespace (a cluster-wide object, a cloud resource) or no application is
matched as the empty name, which only ``*`` takes; the defaults (every event, ``*``) take
everything.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Final, Protocol, TypeVar

from breakglass.notify.events import TERRAFORM_TOOL, Notification, routing_applications

#: the tool prefixes ``report.build.application`` puts before an application's own name
_TOOLS: Final = ("Argo CD ", "Flux HelmRelease ", "Flux ", TERRAFORM_TOOL)


class Filter(Protocol):
    """What routing reads of a destination (its settings entry has these)."""

    @property
    def events(self) -> Sequence[str]: ...

    @property
    def namespaces(self) -> Sequence[str]: ...

    @property
    def applications(self) -> Sequence[str]: ...


_D = TypeVar("_D", bound=Filter)


def _matches(names: Iterable[str], globs: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, glob) for name in names for glob in globs)


def _application_names(applications: Sequence[str]) -> list[str]:
    names: list[str] = []
    for app in applications:
        names.append(app)
        bare = next((app[len(t) :] for t in _TOOLS if app.startswith(t)), None)
        if bare:
            names.append(bare)
    return names or [""]


def wants(destination: Filter, notification: Notification) -> bool:
    """Whether ``destination`` takes ``notification``."""
    if notification.kind.value not in destination.events:
        return False
    if not _matches(notification.namespaces or ("",), destination.namespaces):
        return False
    return _matches(
        _application_names(routing_applications(notification)), destination.applications
    )


def route(notification: Notification, destinations: Iterable[_D]) -> list[_D]:
    """The destinations that take ``notification``, in their configured order."""
    return [d for d in destinations if wants(d, notification)]
