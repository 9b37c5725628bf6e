"""The backfill worker: confirmed capture → edited manifest → commit → branch → pull request.

One pass (``Worker.run_once``) does, in order:

1. **confirm** provisional captures older than the grace period against the live object
   (the change holds → ``confirmed``; the object does not show it → ``discarded``);
2. **backfill** confirmed captures, one object at a time, oldest first: locate the repository
   (Argo CD → Flux → repo rules), sync a mirror, run the GitOps engine in a worktree of the
   target branch (or of the open PR's branch, so later edits stack as new commits), commit as
   the engineer with breakglass as committer, push a stable branch per object, open or update
   the pull request;
3. **track** open pull requests: merged or closed → recorded; the live object back at Git's
   value without a human edit → the controller self-healed: comment and label, keep it open.

Failures are loud and lose nothing: a ``TemporaryError`` leaves the capture ``confirmed`` and
counts an attempt (retried next pass with backoff); a ``PermanentError`` or an edit the engine
cannot express marks it ``failed`` with the reason (and, for the latter, opens an issue carrying
the delta).  Every step is idempotent: the PR is found by branch before one is opened, pushes
are compare-and-swap on the branch head, so a crash anywhere resumes without duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from breakglass import delta as deltas
from breakglass import logs, model, prtext, rendercheck, repos, sopsexec
from breakglass.auditlog import AuditLog, EventType, from_capture, record_safely
from breakglass.capture.admission import OWNER_ANNOTATIONS, owner_hints
from breakglass.capture.redact import Redactor
from breakglass.errors import BreakglassError, PermanentError, TemporaryError
from breakglass.forge import Provider, PullRequest, PullRequestSpec
from breakglass.forge.git import Git, Identity, Mirror, safe_branch
from breakglass.gitops import engine, index, proof, sops
from breakglass.journal import Journal
from breakglass.metrics import Metrics
from breakglass.settings import ForgeSettings, Settings, UserIdentity

if TYPE_CHECKING:  # kubernetes_asyncio costs ~36 MiB; it is imported only when a cluster is used
    from breakglass.kube import Cluster

log = logs.get(__name__)

SELF_HEALED_LABEL = "breakglass/reverted-by-sync"
#: captures read from the journal at a time
_PAGE = 500
_EMAIL_UNSAFE = re.compile(r"[^a-z0-9._-]+")


class LostLeadership(TemporaryError):
    """This process no longer leads in the term its pass began in; the pass stops before its
    next write, and the new leader takes the work over."""


def identity_for(settings: Settings, username: str) -> UserIdentity:
    """The engineer as Git should show them: from ``users:``, else a clear placeholder."""
    known = settings.user(username)
    if known is not None:
        return known
    local = _EMAIL_UNSAFE.sub("-", username.lower()).strip("-.") or "unknown"
    return UserIdentity(name=username, email=f"{local}@{settings.cluster}.breakglass.invalid")


def handle_for(ident: UserIdentity, kind: str) -> str | None:
    """The assignee on a forge of ``kind``; the local forge records any known handle, else the
    engineer's name, since its records are read by people, not matched against accounts."""
    if kind == "github":
        return ident.github
    if kind == "gitlab":
        return ident.gitlab
    return ident.github or ident.gitlab or ident.name


def engine_inputs(capture: model.Capture) -> tuple[Any, Any]:
    """OLD and NEW for the GitOps engine from what the journal kept of a capture."""
    d = capture.delta
    if capture.operation is model.Operation.CREATE:
        return None, d.after
    if capture.operation is model.Operation.DELETE:
        return d.before, None
    if capture.source is model.Source.AUDIT:
        ident = deltas.identity(d.after or d.before or {})
        return patch_to_pair(ident, d.patch, d.patch_type)
    return d.before, d.after


def with_owner_hints(obj: Any, hints: Mapping[str, str], *, other: Any = None) -> Any:
    """``obj`` with the capture's owner labels and annotations back in its metadata.

    A sparse delta leaves out labels nobody changed, but the engine finds the Helm release
    that renders an object by them (``helm.toolkit.fluxcd.io/name``,
    ``meta.helm.sh/release-name``).  The hints are taken from the *new* object, so a key the
    delta mentions on either side (``obj`` or ``other``, the opposite side) is never put back:
    a label the engineer added would otherwise appear on the old side too, and the change
    would vanish.  Both sides get the same hints, so they add no change of their own.
    """
    if not isinstance(obj, dict) or not hints:
        return obj
    meta = dict(obj.get("metadata") or {})
    other_meta = (other.get("metadata") if isinstance(other, dict) else None) or {}
    for section, keys in (
        ("labels", [k for k in hints if k not in OWNER_ANNOTATIONS]),
        ("annotations", [k for k in hints if k in OWNER_ANNOTATIONS]),
    ):
        current = meta.get(section)
        theirs = other_meta.get(section) if isinstance(other_meta, dict) else None
        touched = set(current or {}) | set(theirs if isinstance(theirs, dict) else {})
        keys = [k for k in keys if k not in touched]
        if keys and (current is None or isinstance(current, dict)):
            meta[section] = {**{k: hints[k] for k in keys}, **(current or {})}
    return {**obj, "metadata": meta}


def patch_to_pair(ident: Mapping[str, Any], patch: Any, patch_type: str | None) -> tuple[Any, Any]:
    """A sparse ``(before, after)`` pair from a PATCH body, when it can be read as one.

    A merge (or strategic) patch *is* a sparse ``after``; ``null`` means "remove".  A JSON patch
    becomes one when its operations are add/replace/remove on plain object paths.
    """
    before: dict[str, Any] = dict(ident.items())
    after: dict[str, Any] = dict(ident.items())
    if isinstance(patch, dict):
        _merge_into(before, after, patch)
        return before, after
    if isinstance(patch, list):
        for op in patch:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
                raise PermanentError("the JSON patch uses operations breakglass cannot map")
            parts = [
                p.replace("~1", "/").replace("~0", "~")
                for p in str(op.get("path", "")).split("/")[1:]
            ]
            if not parts or any(p.isdigit() or p == "-" for p in parts):
                raise PermanentError("the JSON patch addresses list items by index")
            target_b, target_a = before, after
            for part in parts[:-1]:
                target_b = target_b.setdefault(part, {})
                target_a = target_a.setdefault(part, {})
            if op["op"] == "remove":
                target_b[parts[-1]] = "<removed>"
            else:
                target_a[parts[-1]] = op.get("value")
        return before, after
    raise PermanentError(
        "this change was seen only by the audit log without a patch body, so its exact delta "
        "is unknown"
    )


def _merge_into(before: dict[str, Any], after: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            before[key] = "<removed>"
        elif isinstance(value, dict):
            _merge_into(before.setdefault(key, {}), after.setdefault(key, {}), value)
        else:
            after[key] = value


@dataclasses.dataclass
class PassSummary:
    confirmed: int = 0
    discarded: int = 0
    backfilled: int = 0
    unmanaged: int = 0
    ignored: int = 0
    failed: int = 0
    retried: int = 0
    merged: int = 0
    closed: int = 0

    def total(self) -> int:
        return sum(dataclasses.asdict(self).values())


def _ago(moment: datetime, now: datetime) -> float:
    return (now - moment).total_seconds()


class Worker:
    """Runs backfill passes; dependencies are given, so tests can use fakes for each."""

    def __init__(
        self,
        *,
        settings: Settings,
        journal: Journal,
        metrics: Metrics,
        providers: Mapping[str, Provider] | None = None,
        cluster: Cluster | None = None,
        audit_log: AuditLog | None = None,
        redactor: Redactor | None = None,
        git: Git | None = None,
        clock: Callable[[], datetime] = model.utcnow,
    ) -> None:
        self.settings = settings
        self.clock = clock  # every timing decision reads it, so tests can move time
        self.journal = journal
        self.metrics = metrics
        self.cluster = cluster
        self.audit_log = audit_log
        self.redactor = redactor
        self.git = git or Git()
        self._providers: dict[str, Provider] = dict(providers or {})
        self._last_poll = datetime.min.replace(tzinfo=clock().tzinfo)
        self.mirrors = settings.state_dir / "mirrors"
        # reasons found on live objects (an engineer may annotate after the fix)
        self._live_reasons: dict[tuple[str, str, str], str] = {}
        # what locating read from the cluster, by capture id: the live object's owner labels
        # and annotations, and the Argo CD Application (for a Helm chart it names)
        self._live_hints: dict[str, dict[str, str]] = {}
        self._live_apps: dict[str, dict[str, Any]] = {}
        self._indexes: dict[Path, index.Index] = {}
        self._base_renders = rendercheck.BaseRenders()
        self._leadership_failing = False
        self._term: int | None = None  # set by each leadership check of the run loop

    # -- plumbing ------------------------------------------------------------------------

    def provider(self, forge: ForgeSettings, remote: str) -> Provider:
        key = f"{forge.name}|{remote}" if forge.kind == "local" else forge.name
        if key not in self._providers:
            self._providers[key] = make_provider(forge, remote=remote, settings=self.settings)
        return self._providers[key]

    async def _save(self, capture: model.Capture, **changes: Any) -> model.Capture:
        """Set ``changes`` on the stored capture (never the copy this pass read: an audit
        confirmation may have arrived since) and return it as stored."""
        await self._fence()
        stored = await self.journal.update(capture.id, changes)
        saved = stored if stored is not None else dataclasses.replace(capture, **changes)
        if "status" in changes:
            # one line per capture the worker handles, with what became of it
            log.info(
                "capture_handled",
                capture_id=saved.id,
                object=saved.object.describe(),
                outcome=saved.status.value,
                reason=saved.reason,
                pr_url=saved.pr_url,
                attempts=saved.attempts,
            )
        return saved

    async def _record(
        self, capture: model.Capture, kind: EventType, *, reason: str | None = None
    ) -> None:
        await record_safely(
            self.audit_log, [from_capture(capture, kind, reason=reason)], metrics=self.metrics
        )

    def _chain_head(self) -> str | None:
        if self.audit_log is None or not self.audit_log.is_open:
            return None
        return str(self.audit_log.head)

    def _index_for(self, tree: Path, moved: list[str] | None) -> index.Index:
        """The GitOps index of a kept worktree: refreshed by the paths Git says moved, or built
        once (a 50,000-document repository takes seconds to index, milliseconds to refresh)."""
        known = self._indexes.get(tree)
        if known is None or moved is None:
            known = index.Index.build(tree)
            self._indexes[tree] = known
        else:
            known.refresh_paths(moved)
        return known

    async def _live(self, ref: model.ObjectRef) -> dict[str, Any] | None:
        """The live object a capture is about (its parent, for a subresource)."""
        assert self.cluster is not None
        return await self.cluster.get(
            group=ref.group,
            version=ref.version,
            plural=ref.resource,
            namespace=ref.namespace,
            name=ref.name,
        )

    # -- the pass --------------------------------------------------------------------------

    async def run_once(self, *, poll: bool = True) -> PassSummary:
        summary = PassSummary()
        await self.confirm_provisional(summary)
        await self.backfill_confirmed(summary)
        now = self.clock()
        if poll and _ago(self._last_poll, now) >= self.settings.backfill.pr_poll_interval:
            await self.track_pull_requests(summary)
            self._last_poll = now
        return summary

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Passes every ``backfill.interval`` seconds until ``stop`` is set; setting ``wake``
        (the audit webhook does when a change is confirmed) starts the next pass at once.

        A pass runs only while the journal says this process leads (``Journal.leadership``:
        replicas sharing a journal elect one worker); the others ask again every interval.
        """
        log.info("worker_started", interval=self.settings.backfill.interval)
        wake = wake if wake is not None else asyncio.Event()
        leading: bool | None = None
        while not stop.is_set():
            wake.clear()
            leading = await self._leadership(leading)
            try:
                if leading:
                    summary = await self.run_once()
                    if summary.total():
                        log.info("backfill_pass", **dataclasses.asdict(summary))
            except LostLeadership as exc:
                # another replica leads now: this pass stopped before its next write
                log.warning("worker_lost_leadership", journal=self.journal.url, error=str(exc))
                leading = False
            except Exception as exc:  # one bad pass must not end the worker
                log.exception("backfill_pass_failed", error=type(exc).__name__)
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            try:
                await asyncio.wait(
                    waiters,
                    timeout=self.settings.backfill.interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _leadership(self, was: bool | None) -> bool:
        """Whether this process runs the next pass; logged only when that changes.

        Another replica holding the lock is standby, said at info.  A journal that cannot
        answer is an error: logged with its traceback when it starts failing, counted every
        time, and this process stands by until the journal answers again.
        """
        try:
            now = await self.journal.leadership()
        except Exception as exc:
            self.metrics.worker_errors.labels("leadership").inc()
            if was is not False or not self._leadership_failing:
                log.exception("worker_leadership_failed", journal=self.journal.url, error=str(exc))
            self._leadership_failing = True
            return False
        if self._leadership_failing:
            self._leadership_failing = False
            was = None  # say where this process stands again
        self._term = now  # the term this pass runs in: every write is fenced with it
        if now and was is not True:
            log.info("worker_leading", journal=self.journal.url)
        elif not now and was is not False:
            log.info(
                "worker_standby",
                journal=self.journal.url,
                reason="another replica holds the worker lock",
            )
        return bool(now)

    # -- 1. confirm ------------------------------------------------------------------------

    async def confirm_provisional(self, summary: PassSummary) -> None:
        for capture in await self._all("provisional"):
            try:
                await self._confirm(capture, summary)
            except LostLeadership:
                raise
            except Exception as exc:  # a bug: say so loudly, and go on with the next capture
                self.metrics.worker_errors.labels("confirm").inc()
                log.exception("confirm_crashed", capture_id=capture.id, error=type(exc).__name__)

    async def _confirm(self, capture: model.Capture, summary: PassSummary) -> None:
        now = self.clock()
        if _ago(capture.received_at, now) < self.settings.backfill.grace_seconds:
            return
        if self.cluster is None or capture.classification == model.OPAQUE:
            return  # only its audit event can confirm it
        try:
            verdict, reason = await self._verify_live(capture)
        except TemporaryError as exc:
            log.warning("confirm_retry", capture_id=capture.id, error=str(exc))
            return
        except PermanentError as exc:
            log.error("confirm_failed", capture_id=capture.id, error=str(exc))
            return
        if verdict is None:
            if _ago(capture.received_at, now) < self.settings.backfill.confirm_timeout:
                return
            verdict = False
        status = model.Status.CONFIRMED if verdict else model.Status.DISCARDED
        changes: dict[str, Any] = {"status": status, "reason": reason}
        if verdict:
            changes["confirmed_at"] = now
        # only while still provisional: an audit event that confirmed it meanwhile wins
        await self._fence()
        saved = await self.journal.update(
            capture.id, changes, expect_status=model.Status.PROVISIONAL
        )
        if saved is None or saved.status is not status:
            return
        if verdict:
            await self._record(saved, EventType.CONFIRMATION, reason=reason)
            summary.confirmed += 1
        else:
            await self._record(saved, EventType.DISCARD, reason=reason)
            self.metrics.backfills.labels("discarded").inc()
            summary.discarded += 1
        log.info("capture_checked", capture_id=capture.id, status=saved.status.value, reason=reason)

    async def _verify_live(self, capture: model.Capture) -> tuple[bool | None, str]:
        assert self.cluster is not None
        ref = capture.object
        live = await self._live(ref)
        if capture.operation is model.Operation.DELETE:
            if live is None:
                return True, "the object is gone from the cluster"
            return False, "the object still exists: the delete did not happen"
        if live is None:
            return False, "the object does not exist: the change was not persisted"
        if self.redactor is not None:
            live = self.redactor.object(live, kind=ref.kind)
        stripped = deltas.strip_server_fields(live)
        before, after = capture.delta.before or {}, capture.delta.after or {}
        if deltas.holds(stripped, before, after):
            return True, "the live object shows the change"
        return (
            False,
            "the live object does not show the change: it was rejected after "
            "admission or changed again since",
        )

    # -- 2. backfill -------------------------------------------------------------------------

    async def backfill_confirmed(self, summary: PassSummary) -> None:
        pending = await self._all("confirmed")
        groups: dict[tuple[str, str, str, str], list[model.Capture]] = defaultdict(list)
        now = self.clock()
        for capture in pending:
            ignored = _not_backfilled(capture, self.settings.record_only)
            if ignored is not None:
                saved = await self._save(capture, status=model.Status.IGNORED, reason=ignored)
                await self._record(saved, EventType.DISCARD, reason=saved.reason)
                summary.ignored += 1
                continue
            if capture.next_attempt_at is not None and now < capture.next_attempt_at:
                continue  # waiting after a temporary failure (a rate limit's reset, a backoff)
            groups[_object_key(capture.object)].append(capture)
        for captures in groups.values():
            captures.sort(key=lambda c: c.id)
            try:
                await self._backfill_object(captures, summary)
            except LostLeadership:
                raise
            except TemporaryError as exc:
                await self._retry_later(captures, exc, summary)
                log.warning("backfill_retry", error=str(exc), captures=[c.id for c in captures])
            except BreakglassError as exc:
                for capture in captures:
                    current = await self.journal.get(capture.id) or capture
                    if current.status is model.Status.CONFIRMED:
                        await self._fail(current, str(exc))
                        summary.failed += 1
                log.error("backfill_failed", error=str(exc), captures=[c.id for c in captures])
            except Exception as exc:  # a bug: say so loudly, and go on with the next object
                self.metrics.worker_errors.labels("backfill").inc()
                log.exception(
                    "backfill_crashed", error=type(exc).__name__, captures=[c.id for c in captures]
                )
                failure = TemporaryError(f"internal error {type(exc).__name__}: {exc}")
                await self._retry_later(captures, failure, summary)

    async def _retry_later(
        self, captures: Sequence[model.Capture], exc: TemporaryError, summary: PassSummary
    ) -> None:
        """Each capture still ``confirmed`` waits: at least as long as the forge asked
        (``exc.delay``: Retry-After, a rate limit's reset), and by an exponential backoff
        (at most 5 minutes) when it asked nothing.  A capture fails only once it has been
        retried for ``backfill.retry_deadline_hours``, however many attempts that took."""
        now = self.clock()
        deadline = timedelta(hours=self.settings.backfill.retry_deadline_hours)
        for capture in captures:
            current = await self.journal.get(capture.id) or capture
            if current.status is not model.Status.CONFIRMED:
                continue
            attempts = current.attempts + 1
            since = current.confirmed_at or current.received_at
            if now - since >= deadline:
                await self._fail(
                    current,
                    f"gave up after {attempts} attempts over {_hours(now - since)}: {exc}",
                )
                summary.failed += 1
                continue
            wait = timedelta(seconds=max(exc.delay, min(300.0, 2.0**attempts)))
            await self._save(
                current,
                attempts=attempts,
                reason=str(exc),
                # never past the deadline: the capture is tried once more then, and fails
                next_attempt_at=min(now + wait, since + deadline),
            )
            summary.retried += 1

    async def _fail(self, capture: model.Capture, reason: str, *, url: str | None = None) -> None:
        saved = await self._save(
            capture, status=model.Status.FAILED, reason=reason, pr_url=url or capture.pr_url
        )
        await self._record(saved, EventType.FAILED, reason=reason)
        self.metrics.backfills.labels("failed").inc()

    async def locate(self, capture: model.Capture) -> repos.RepoTarget | None:
        """Argo CD → Flux → repo rules, reading owner objects from the cluster when we can."""
        metadata: dict[str, Any] = {"labels": {}, "annotations": {}}
        hints = dict(capture.labels)
        for key, value in hints.items():
            section = "annotations" if key == repos.ARGO_TRACKING else "labels"
            metadata[section][key] = value
        if self.cluster is not None:
            ref = capture.object
            live = None
            if capture.operation is not model.Operation.DELETE:
                try:
                    live = await self._live(ref)
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
                self._live_hints[capture.id] = owner_hints(live)
                why = (meta.get("annotations") or {}).get(prtext.REASON_ANNOTATION)
                if isinstance(why, str) and why:
                    self._live_reasons[(ref.kind, ref.namespace, ref.name)] = why
            app = repos.argo_application(
                metadata, argo_namespace=self.settings.kube.argocd_namespace
            )
            if app is not None:
                found = await self.cluster.get(**dataclasses.asdict(app))
                if found is not None and (target := repos.from_argo(found)) is not None:
                    self._live_apps[capture.id] = found
                    return target
            owner_ref = repos.flux_owner(metadata)
            if owner_ref is not None:
                owner = await self.cluster.get(**dataclasses.asdict(owner_ref))
                applier = repos.flux_applier(owner) if owner is not None else None
                if applier is not None and owner_ref.plural == repos.FLUX_HR[2]:
                    # the values to edit are in the HelmRelease manifest, which is in the
                    # repository path of the Kustomization that applied it (not the chart's)
                    owner = await self.cluster.get(**dataclasses.asdict(applier)) or owner
                source_ref = repos.flux_source(owner) if owner else None
                source = (
                    await self.cluster.get(**dataclasses.asdict(source_ref))
                    if (source_ref)
                    else None
                )
                if owner is not None and source is not None:
                    target = repos.from_flux(owner, source)
                    if target is not None and owner_ref.plural == repos.FLUX_HR[2]:
                        target = dataclasses.replace(target, flux_helm=True)
                    if target is not None:
                        return target
        return repos.from_rules(
            repos.rules_from(self.settings.repos),
            namespace=capture.object.namespace,
            labels=metadata["labels"],
        )

    def _forge_for(self, target: repos.RepoTarget) -> ForgeSettings:
        name = target.forge or self.settings.backfill.forge
        forge = self.settings.forge(name)
        if forge is None:
            raise PermanentError(f"forge {name!r} is not configured", hint="add it to forges:")
        return forge

    def branch_for(self, ref: model.ObjectRef) -> str:
        return safe_branch(
            self.settings.backfill.branch_prefix,
            self.settings.cluster,
            ref.namespace or "_cluster",
            ref.kind.lower(),
            ref.name,
        )

    async def _backfill_object(self, captures: list[model.Capture], summary: PassSummary) -> None:
        try:
            await self._backfill_located(captures, summary)
        finally:
            self._live_hints.pop(captures[0].id, None)
            self._live_apps.pop(captures[0].id, None)

    async def _backfill_located(self, captures: list[model.Capture], summary: PassSummary) -> None:
        first = captures[0]
        target = await self.locate(first)
        if target is None:
            for capture in captures:
                saved = await self._save(
                    capture,
                    status=model.Status.UNMANAGED,
                    reason="no Argo CD application, Flux object or repo rule owns this object",
                )
                await self._record(saved, EventType.DISCARD, reason=saved.reason)
                self.metrics.backfills.labels("unmanaged").inc()
                summary.unmanaged += 1
            return
        forge = self._forge_for(target)
        token = self.settings.secret(forge.token_env) if forge.token_env else None
        git = Git(token=token)
        provider = self.provider(forge, target.url)
        mirror = Mirror(url=target.url, root=self.mirrors, git=git)
        await mirror.sync()
        base_head = await mirror.head(target.branch)
        if base_head is None:
            raise PermanentError(
                f"branch {target.branch!r} does not exist in {git.mask(target.url)}",
                hint="check targetRevision / the repo rule's branch",
            )
        branch = self.branch_for(first.object)
        pr = await provider.find_by_branch(branch)
        branch_head = await mirror.head(branch)
        if pr is not None and pr.state == "closed" and pr.closed_by != "breakglass":
            closed_at = model.parse_time(pr.closed_at) if pr.closed_at else None
            # forges report whole seconds: a change within the second of the close counts as
            # one the reviewer saw
            if closed_at is None or closed_at + timedelta(seconds=1) >= first.received_at:
                for capture in captures:
                    saved = await self._save(
                        capture,
                        status=model.Status.CLOSED,
                        pr_url=pr.url,
                        reason="a reviewer closed the pull request for this change; "
                        "breakglass does not reopen it",
                    )
                    await self._record(saved, EventType.PR_CLOSED, reason=saved.reason)
                    summary.closed += 1
                return
        open_pr = pr if pr is not None and pr.state == "open" else None
        start: str
        expected: str | None
        if open_pr is not None and branch_head is not None:
            start, expected = branch_head, branch_head
        else:
            if branch_head is not None:
                foreign = [
                    sha
                    for sha, email in await mirror.commits_since(base_head, branch_head)
                    if email != self.settings.backfill.committer.email
                ]
                if foreign:
                    raise PermanentError(
                        f"branch {branch} has commits by someone else and no open pull "
                        "request; breakglass will not overwrite them",
                        hint="delete the branch, or open a pull request from it "
                        f"(first foreign commit {foreign[0][:12]})",
                    )
            start, expected = base_head, branch_head
        job = _Job(captures, target, forge, provider, mirror, branch, start, expected, open_pr)
        await self._apply(job, summary)

    async def _apply(self, job: _Job, summary: PassSummary) -> None:
        """Edit, commit, prove, push and open or update the pull request for one object."""
        captures, target, forge, provider = job.captures, job.target, job.forge, job.provider
        mirror, branch, start, open_pr = job.mirror, job.branch, job.start, job.open_pr
        committer = self.settings.backfill.committer
        applied: list[model.Capture] = []
        commits: dict[str, str] = {}
        notes: list[str] = []
        files: list[str] = []
        async with mirror.kept_worktree(start) as (tree, moved):
            idx = await asyncio.to_thread(self._index_for, tree, moved)
            for capture in captures:
                try:
                    old, new = engine_inputs(capture)
                except PermanentError as exc:
                    await self._fail(capture, str(exc))
                    summary.failed += 1
                    continue
                secrets: sops.Secrets | None = None
                if capture.object.kind == "Secret" and capture.object.group == "" and new:
                    secrets, stale = await self._live_secret(capture, old, new, tree, target.path)
                    if stale is not None:
                        saved = await self._save(
                            capture, status=model.Status.SUPERSEDED, reason=stale
                        )
                        await self._record(saved, EventType.PR_SUPERSEDED, reason=stale)
                        continue
                hints = {**self._live_hints.get(captures[0].id, {}), **capture.labels}
                result = await asyncio.to_thread(
                    engine.backfill,
                    idx,
                    with_owner_hints(old, hints, other=new),
                    with_owner_hints(new, hints, other=old),
                    subpath=target.path,
                    secrets=secrets,
                    applications=[app] if (app := self._live_apps.get(captures[0].id)) else [],
                )
                if isinstance(result, engine.NoChange) and open_pr is not None:
                    # already on the pull request's branch (a pass that crashed after the push)
                    saved = await self._save(
                        capture,
                        status=model.Status.PR_OPEN,
                        pr_url=open_pr.url,
                        reason="already on the pull request branch",
                    )
                    summary.backfilled += 1
                    continue
                if isinstance(result, engine.NoChange):
                    saved = await self._save(
                        capture,
                        status=model.Status.SUPERSEDED,
                        reason=f"nothing to change: {result.reason}",
                    )
                    await self._record(saved, EventType.PR_SUPERSEDED, reason=saved.reason)
                    continue
                if isinstance(result, engine.CannotExpress):
                    source = prtext.Source(target.url, target.branch, target.path, target.owner)
                    ident = identity_for(self.settings, capture.actor.username)
                    handle = handle_for(ident, forge.kind)
                    await self._fence()
                    url = await provider.open_issue(
                        title=prtext.title(capture) + " (needs a human)",
                        body=prtext.cannot_express(
                            capture, why=result.reason, delta=result.delta, source=source
                        ),
                        labels=self.settings.backfill.labels,
                        assignees=[handle] if handle else [],
                    )
                    await self._fail(capture, f"cannot be expressed: {result.reason}", url=url)
                    summary.failed += 1
                    continue
                ident = identity_for(self.settings, capture.actor.username)
                message = prtext.commit_message(
                    capture, capture_ids=[capture.id], chain_head=self._chain_head()
                )
                commits[capture.id] = await mirror.commit(
                    tree,
                    files=result.files,
                    message=message,
                    author=Identity(ident.name, ident.email),
                    committer=Identity(committer.name, committer.email),
                )
                await asyncio.to_thread(idx.refresh_paths, list(result.files))
                files.extend(f for f in result.files if f not in files)
                notes.extend(n for n in result.notes if n not in notes)
                applied.append(capture)
            if not applied:
                return
            checked = await self._prove(
                applied, target, mirror, tree, idx, start=start, files=files
            )
            if not checked.ok:
                await self._render_failed(job, applied, checked, tree, summary)
                return
            await self._fence()
            await mirror.push(tree, branch, expected=job.expected)
        for capture in applied:
            await self._record(capture, EventType.BRANCH_PUSHED)
        diff = await mirror.diff(target.branch, branch)
        last = applied[-1]
        if open_pr is not None and not diff.strip():
            # the newest edit put the object back as Git has it: the engineer withdrew it
            await self._fence()
            if SELF_HEALED_LABEL in open_pr.labels:
                await provider.remove_label(open_pr, SELF_HEALED_LABEL)
            closed = await provider.close(
                open_pr,
                comment=f"{prtext.code(last.actor.username)} put the object back to what "
                f"Git says ({prtext.md(prtext.how(last))}), so there is nothing left to "
                "backfill. Closing.",
            )
            for capture in await self._captures_of(open_pr.url, applied):
                saved = await self._save(
                    capture,
                    status=model.Status.CLOSED,
                    pr_url=closed.url,
                    reason=f"withdrawn: {last.actor.username} reverted the change by hand",
                )
                await self._record(saved, EventType.PR_CLOSED, reason=saved.reason)
                summary.closed += 1
            return
        all_captures = await self._captures_of(open_pr.url if open_pr else None, applied)
        ref = all_captures[-1].object
        live_reason = self._live_reasons.pop((ref.kind, ref.namespace, ref.name), None)
        if live_reason and not prtext.reason(all_captures[-1]):
            labels = {**all_captures[-1].labels, prtext.REASON_ANNOTATION: live_reason}
            all_captures[-1] = dataclasses.replace(all_captures[-1], labels=labels)
        handles, unassigned = self._assignees(all_captures, forge)
        notes.extend(
            f"{name} has no {forge.kind} handle in `users:`, so is not assigned"
            for name in unassigned
        )
        source = prtext.Source(target.url, target.branch, target.path, target.owner, tuple(files))
        spec = PullRequestSpec(
            branch=branch,
            base=target.branch,
            title=prtext.pr_title(all_captures),
            body=prtext.body(
                all_captures,
                cluster=self.settings.cluster,
                source=source,
                diff=diff,
                notes=notes,
                chain_head=self._chain_head(),
                now=model.utcnow(),
                rendered=checked.checked,
                not_rendered=checked.skipped,
                render_notes=checked.notes,
            ),
            labels=self.settings.backfill.labels,
            assignees=tuple(handles),
            reviewers=self.settings.backfill.reviewers,
            draft=self.settings.backfill.draft,
        )
        await self._fence()
        if open_pr is not None:
            pr = await provider.update(open_pr, spec)
            for capture in applied:
                sha = commits[capture.id]
                own = await mirror.diff(f"{sha}^", sha)
                await provider.comment(pr, prtext.follow_up_comment(capture, own))
            event = EventType.PR_UPDATED
        else:
            pr = await provider.open(spec)
            event = EventType.PR_OPENED
        now = model.utcnow()
        for capture in applied:
            saved = await self._save(
                capture, status=model.Status.PR_OPEN, pr_url=pr.url, reason=None
            )
            await self._record(saved, event)
            self.metrics.time_to_pr.observe(_ago(capture.received_at, now))
            self.metrics.backfills.labels("pr").inc()
            summary.backfilled += 1
        log.info(
            "pull_request",
            url=pr.url,
            branch=branch,
            captures=[c.id for c in applied],
            action=event.value,
        )

    def _assignees(
        self, captures: Sequence[model.Capture], forge: ForgeSettings
    ) -> tuple[list[str], list[str]]:
        """The forge handles of everyone who made ``captures``, and who has none."""
        handles: list[str] = []
        unassigned: list[str] = []
        for username in dict.fromkeys(c.actor.username for c in captures):
            handle = handle_for(identity_for(self.settings, username), forge.kind)
            if handle is None:
                unassigned.append(username)
            elif handle not in handles:
                handles.append(handle)
        return handles, unassigned

    async def _prove(
        self,
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
        conf = self.settings.backfill
        tools = rendercheck.Tools(conf.render_check, conf.kustomize_binary, conf.helm_binary)
        if conf.render_check == "off":
            return rendercheck.Proof()
        helm_app = None
        skipped = None
        flux_release = None
        if target.flux_helm:
            hints = {
                k: v
                for c in applied
                for k, v in {**self._live_hints.get(c.id, {}), **c.labels}.items()
            }
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
                    cache=self._base_renders,
                    flux_release=flux_release,
                )
            self.metrics.render_seconds.observe(checked.seconds)
        result = "failed" if not checked.ok else "skipped" if checked.skipped else "proven"
        self.metrics.render_checks.labels(result).inc()
        return checked

    async def _render_failed(
        self,
        job: _Job,
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
        handles, _ = self._assignees(applied, job.forge)
        await self._fence()
        url = await job.provider.open_issue(
            title=prtext.pr_title(applied) + " (needs a human)",
            body=prtext.render_failed(
                applied,
                problems=checked.problems,
                diff=diff,
                source=source,
                cluster=self.settings.cluster,
            ),
            labels=self.settings.backfill.labels,
            assignees=handles,
        )
        reason = "render check failed: " + "; ".join(checked.problems)
        for capture in applied:
            await self._fail(capture, reason[:2000], url=url)
            summary.failed += 1
        log.error("render_check_failed", url=url, captures=[c.id for c in applied])

    async def _live_secret(
        self,
        capture: model.Capture,
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any],
        tree: Path,
        subpath: str,
    ) -> tuple[sops.Secrets | None, str | None]:
        """The live Secret's values, when the repository keeps Secrets SOPS-encrypted.

        Captures hold only redaction markers, so the values are read from the cluster now (this
        needs the read-secrets component) and used once, to encrypt.  They must be the values
        the capture saw: each changed key's marker is compared with the live value's marker
        under the same salt.  A mismatch means the Secret changed again since; that capture is
        then ``superseded`` (the later change stands for it) instead of writing a value nobody
        captured.  Returns ``(secrets or None, reason it is stale or None)``.
        """
        if self.cluster is None or not sops.covers(subpath, lambda p: (tree / p).is_file()):
            return None, None
        try:
            live = await self._live(capture.object)
        except PermanentError as exc:
            log.warning("secret_unreadable", capture_id=capture.id, error=str(exc))
            return None, None
        if live is None:
            return None, "the Secret no longer exists in the cluster; a later change removed it"
        raw = live.get("data")
        values = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        if self.redactor is not None:
            stale = _secret_moved_on(self.redactor, values, old, new)
            if stale is not None:
                return None, stale
        binary = sopsexec.find_binary(self.settings.backfill.sops_binary)
        return sops.Secrets(values, sopsexec.Sops(tree, binary, values)), None

    async def _captures_of(
        self, pr_url: str | None, extra: Sequence[model.Capture]
    ) -> list[model.Capture]:
        found = {c.id: c for c in extra}
        if pr_url:
            for capture in await self._all("pr_open"):
                if capture.pr_url == pr_url:
                    found.setdefault(capture.id, capture)
        return sorted(found.values(), key=lambda c: c.id)

    async def _fence(self) -> None:
        """Raise ``LostLeadership`` unless this process still leads in the term its pass
        began in: a leader that lost its database session (and may have been replaced) must
        not write to the journal or a forge again."""
        if self._term is None:
            return  # run_once called directly (tests, `worker --once` checked it already)
        try:
            now = await self.journal.leadership()
        except Exception as exc:
            raise LostLeadership(f"cannot tell whether this process still leads: {exc}") from exc
        if now != self._term:
            raise LostLeadership(
                f"this process led in term {self._term} and now "
                + (f"in term {now}" if now else "does not lead")
            )

    async def _all(self, status: str) -> list[model.Capture]:
        """Every capture in ``status``, oldest first, read page by page: a backlog larger
        than a page is worked through from its oldest end, never starved."""
        found: list[model.Capture] = []
        after: str | None = None
        while True:
            page = await self.journal.list(
                status=status, limit=_PAGE, after=after, oldest_first=True
            )
            found.extend(page)
            if len(page) < _PAGE:
                return found
            after = page[-1].id

    async def _unfinished(self) -> dict[tuple[str, str, str, str], str]:
        """The newest capture id of each object the worker has not finished with yet
        (provisional or confirmed), read once per tracking pass."""
        newest: dict[tuple[str, str, str, str], str] = {}
        for status in ("provisional", "confirmed"):
            for other in await self._all(status):
                key = _object_key(other.object)
                newest[key] = max(newest.get(key, other.id), other.id)
        return newest

    # -- 3. track ----------------------------------------------------------------------------

    async def track_pull_requests(self, summary: PassSummary) -> None:
        by_pr: dict[str, list[model.Capture]] = defaultdict(list)
        for capture in await self._all("pr_open"):
            if capture.pr_url:
                by_pr[capture.pr_url].append(capture)
        unfinished = await self._unfinished() if self.cluster is not None else {}
        for url, captures in by_pr.items():
            captures.sort(key=lambda c: c.id)  # oldest first: the self-heal check reads the last
            first = captures[0]
            try:
                target = await self.locate(first)
                self._live_hints.pop(first.id, None)
                self._live_apps.pop(first.id, None)
                if target is None:
                    continue
                forge = self._forge_for(target)
                provider = self.provider(forge, target.url)
                pr = await provider.find_by_branch(self.branch_for(first.object))
                if pr is None or pr.url != url:
                    continue
                pr = await provider.refresh(pr)
                if pr.state == "open":
                    await self._check_self_heal(provider, pr, captures, unfinished)
                    continue
                status = model.Status.MERGED if pr.state == "merged" else model.Status.CLOSED
                event = EventType.PR_MERGED if pr.state == "merged" else EventType.PR_CLOSED
                now = self.clock()
                for capture in captures:
                    saved = await self._save(
                        capture, status=status, reason=f"pull request {pr.state}"
                    )
                    await self._record(saved, event)
                    if status is model.Status.MERGED:
                        self.metrics.time_to_merge.observe(_ago(capture.received_at, now))
                        summary.merged += 1
                    else:
                        summary.closed += 1
            except LostLeadership:
                raise
            except TemporaryError as exc:
                log.warning("pr_poll_retry", url=url, error=str(exc))
            except BreakglassError as exc:
                log.error("pr_poll_failed", url=url, error=str(exc))
            except Exception as exc:  # a bug: say so loudly, and go on with the next PR
                self.metrics.worker_errors.labels("track").inc()
                log.exception("pr_poll_crashed", url=url, error=type(exc).__name__)

    async def _check_self_heal(
        self,
        provider: Provider,
        pr: PullRequest,
        captures: list[model.Capture],
        unfinished: Mapping[tuple[str, str, str, str], str],
    ) -> None:
        """The live object is back at Git's value and no human edit did it: a sync reverted
        the fix.  Keep the PR (merging re-applies the fix), say so once, and label it."""
        if self.cluster is None or SELF_HEALED_LABEL in pr.labels:
            return
        last = captures[-1]
        if last.operation is not model.Operation.UPDATE:
            return
        if unfinished.get(_object_key(last.object), "") > last.id:
            # a person changed the object again (an engineer's own `rollout undo`, say): the
            # next pass adds that change, or closes the PR as withdrawn; no sync did this
            return
        ref = last.object
        live = await self._live(ref)
        if live is None:
            return
        if self.redactor is not None:
            live = self.redactor.object(live, kind=ref.kind)
        stripped = deltas.strip_server_fields(live)
        before, after = last.delta.before or {}, last.delta.after or {}
        if deltas.holds(stripped, before, after) or not deltas.holds(stripped, after, before):
            return
        when = model.format_time(self.clock())[:19].replace("T", " ") + " UTC"
        await self._fence()
        await provider.comment(
            pr,
            f"The live object went back to Git's value at {when} without a manual edit: the "
            "GitOps controller reverted the emergency fix. Merging this pull request re-applies "
            "it.",
        )
        await provider.add_labels(pr, [SELF_HEALED_LABEL])
        log.warning("self_heal_detected", url=pr.url, capture_id=last.id)


def _object_key(ref: model.ObjectRef) -> tuple[str, str, str, str]:
    """One object, whatever its version or subresource: group, kind, namespace, name."""
    return (ref.group, ref.kind, ref.namespace, ref.name)


@dataclasses.dataclass(frozen=True)
class _Job:
    """The backfill of one object in one pass: its captures (oldest first), where they go
    (repository, forge, mirror, branch) and where the branch starts."""

    captures: list[model.Capture]
    target: repos.RepoTarget
    forge: ForgeSettings
    provider: Provider
    mirror: Mirror
    branch: str
    start: str  # the commit the pass's worktree starts from (the base, or the PR's head)
    expected: str | None  # the branch head the push must find (compare-and-swap), if any
    open_pr: PullRequest | None


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{span.total_seconds() / 60:.0f} min"


def _not_backfilled(capture: model.Capture, record_only: Sequence[str]) -> str | None:
    """Why a confirmed capture is only recorded, never backfilled; None if it is backfilled."""
    if capture.classification == model.OPAQUE:
        return f"{capture.reason}; not backfilled, update Git by hand"
    if capture.classification in record_only:
        return f"{capture.classification} is an operation, not configuration drift"
    return None


def _data_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    data = obj.get("data")
    return data if isinstance(data, dict) else {}


def _secret_moved_on(
    redactor: Redactor,
    values: Mapping[str, str],
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
) -> str | None:
    """Why the live Secret's ``values`` are not the ones a capture saw, or None if they are.

    ``old``/``new`` are the capture's (sparse, redacted) sides: a key in ``new`` must carry
    the marker of its live value; a key only in ``old`` (or set to null) must be gone.
    """
    marked = redactor.object({"data": dict(values)}, kind="Secret")["data"]
    after: dict[str, Any] = _data_of(new)
    before: dict[str, Any] = _data_of(old) if old is not None else {}
    for key, marker in after.items():
        if marker is None:
            continue
        if marked.get(key) != marker:
            return (
                f"the live Secret's key {key} no longer holds the value this capture saw; "
                "a later change replaced it"
            )
    for key in before:
        if (key not in after or after[key] is None) and key in values:
            return f"key {key}, which this capture removed, is back in the live Secret"
    return None


async def connect_cluster(settings: Settings) -> Cluster | None:
    """The cluster reader ``kube:`` asks for; ``None`` when there is none to read."""
    import os

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


__all__ = ["PassSummary", "Worker", "engine_inputs", "identity_for", "make_provider"]
