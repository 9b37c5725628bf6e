"""Whose field is it: a ``managedFields`` manager is a GitOps controller, the system, or a person.

A scan reports a field only when a *person's* tool owns it (``kubectl-edit``, ``kubectl-patch``,
k9s, Lens, …).  Fields a GitOps controller owns are Git's (a value that differs from Git's is a
sync that has not happened yet, not a manual change); fields the API server or a controller own
(defaults, an autoscaler's replicas, status writers) are nobody's drift.  The lists are globs
from ``scan.managers``; their defaults for Argo CD and Flux were read from a real API server's
``managedFields`` (see ``docs/kubernetes-facts.md``).
"""

from __future__ import annotations

import enum
import fnmatch
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from breakglass.settings import ScanManagerSettings


class Role(enum.StrEnum):
    """What a field manager is."""

    GITOPS = "gitops"
    SYSTEM = "system"
    HUMAN = "human"
    #: in no list: reported or not as ``scan.managers.unknown`` says, and said to be so
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ManagerPolicy:
    """The three lists of manager globs, matched in order, and what an unlisted one is."""

    gitops: tuple[str, ...]
    system: tuple[str, ...]
    human: tuple[str, ...]
    unknown_is_human: bool = True

    @classmethod
    def from_settings(cls, conf: ScanManagerSettings) -> ManagerPolicy:
        return cls(
            gitops=conf.gitops + conf.extra_gitops,
            system=conf.system + conf.extra_system,
            human=conf.human + conf.extra_human,
            unknown_is_human=conf.unknown == "human",
        )

    def role(self, manager: str) -> Role:
        return _role(self, manager)

    def is_person(self, manager: str) -> bool:
        """Whether a field this manager owns may be a person's manual change."""
        role = self.role(manager)
        return role is Role.HUMAN or (role is Role.UNKNOWN and self.unknown_is_human)


@functools.lru_cache(maxsize=4096)
def _role(policy: ManagerPolicy, manager: str) -> Role:
    for role, globs in (
        (Role.GITOPS, policy.gitops),
        (Role.SYSTEM, policy.system),
        (Role.HUMAN, policy.human),
    ):
        if _matches(manager, globs):
            return role
    return Role.UNKNOWN


def _matches(manager: str, globs: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(manager, g) for g in globs)
