"""The worker under conditions a demo never shows: writes racing with the audit webhook."""

from __future__ import annotations

import dataclasses
from typing import Any

from breakglass import model
from breakglass.capture.audit import Confirmation
from tests.backfill.conftest import edit_review


class ConfirmingJournal:
    """A journal where the audit event of ``capture_id`` arrives just before the worker's
    first write of it, as it does when /audit answers in the middle of a pass."""

    def __init__(self, inner: Any, capture_id: str) -> None:
        self.inner = inner
        self.capture_id = capture_id
        self.confirmed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def update(self, capture_id: str, changes: Any) -> Any:
        if capture_id == self.capture_id and not self.confirmed:
            self.confirmed = True
            current = await self.inner.get(capture_id)
            await self.inner.record_audit(
                [
                    Confirmation(
                        capture_id=capture_id,
                        audit_id="audit-during-pass",
                        actor=dataclasses.replace(current.actor, user_agent="kubectl/v1.36.3"),
                        patch={"spec": {"replicas": 6}},
                        patch_type="merge",
                        at=model.utcnow(),
                    )
                ],
                now=model.utcnow(),
            )
        return await self.inner.update(capture_id, changes)


async def test_an_audit_confirmation_during_a_pass_is_not_lost(env):
    c = await env.capture(edit_review(lambda d: d["spec"].update(replicas=6)))
    env.worker.journal = ConfirmingJournal(env.journal, c.id)
    await env.worker.run_once()
    assert env.worker.journal.confirmed
    stored = await env.status(c.id)
    assert stored.status is model.Status.PR_OPEN
    assert stored.audit_id == "audit-during-pass"
    assert stored.delta.patch == {"spec": {"replicas": 6}}
    assert stored.actor.user_agent == "kubectl/v1.36.3"
