"""One Terraform scan: for each root, refresh-only plan → mapping → edit → verify → forge.

Per root, in a worktree of the repository's mirror at the configured branch: ``init``,
``plan -refresh-only`` (read as JSON in memory), the providers' schemas, the drift decided
attribute by attribute (``mapping``).  Without ``backfill`` that is all: a report (no journal
row, audit record, branch or forge record).  With it, the mapped edits are spliced into the
files, and a normal ``plan`` on the edited tree must show no change for those resources and no
change to any other resource that the unedited code did not already have, before anything is
pushed (what fails goes to a human instead); then one pull request per root (branch
``<prefix>/<cluster>/tf/<root>``, updated while it is open and only breakglass has pushed to
it, closed when nothing in it is drift any more), one issue per resource that needs a human, a
journal row and an audit record per resource, and the metrics.

A drift is known by root, address and a digest of what drifted (never the values), so a
second scan of the same drift opens nothing new, a pull request a reviewer closed is not
opened again for the same drift, and drift no scan finds any more is marked resolved.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from breakglass import logs, model
from breakglass.auditlog.records import Event, EventType
from breakglass.errors import BreakglassError, PermanentError
from breakglass.forge import Provider, PullRequestSpec
from breakglass.forge.git import Git, Identity, Mirror, safe_branch, trailers
from breakglass.journal import every_capture
from breakglass.metrics import Metrics
from breakglass.settings import ForgeSettings, Settings, TerraformRootSettings
from breakglass.terraform import drift as drifts
from breakglass.terraform import mapping
from breakglass.terraform.hcl import Document, HclSyntaxError
from breakglass.terraform.hcledit import apply
from breakglass.terraform.text import issue_text, pr_text
from breakglass.terraform.tofu import Tofu, actions, managed_in_code, managed_in_state

log = logs.get(__name__)

PULL_REQUEST = "pull_request"
NEEDS_HUMAN = "needs_human"
FOUND = "found"
IN_CODE = "in_code"
FOUND_BY = "plan -refresh-only"


@dataclass
class Outcome:
    """What became of one drifted resource in this scan."""

    decision: mapping.Decision
    outcome: str
    url: str | None = None
    reason: str = ""
    author: str | None = None


@dataclass
class RootReport:
    """One root's scan, for the command's output and the worker's log."""

    root: str
    path: str
    outcomes: list[Outcome] = field(default_factory=list)
    pull_request: str | None = None
    error: str | None = None
    seconds: float = 0.0


Providers = Callable[[ForgeSettings, str], Provider]


def fingerprint(decision: mapping.Decision) -> str:
    """A digest of which attributes drifted to which values (sensitive ones by name only)."""
    leaves = [
        [drifts.path_text(c.path), None if c.sensitive else c.after] for c in decision.drift.changes
    ]
    text = json.dumps([decision.drift.address, leaves], sort_keys=True, default=repr)
    digest = hashlib.sha256(text.encode())
    return digest.hexdigest()[:16]


def _workspace(
    tree: Path, root: TerraformRootSettings, configuration: Mapping[str, Any]
) -> mapping.Workspace:
    """Parse the root's and its local modules' ``.tf`` files and its ``.tfvars`` files."""
    directories = {root.path}
    pending: list[tuple[str, Mapping[str, Any]]] = [
        (root.path, configuration.get("root_module") or {})
    ]
    while pending:
        directory, module = pending.pop()
        for call in (module.get("module_calls") or {}).values():
            child = mapping.module_directory(directory, str(call.get("source", "")))
            if child is not None and child not in directories:
                directories.add(child)
                pending.append((child, call.get("module") or {}))
    var_files = [posixpath.normpath(posixpath.join(root.path, name)) for name in root.var_files]
    files: dict[str, Document] = {}
    broken: dict[str, str] = {}
    candidates: list[str] = []
    for directory in sorted(directories):
        folder = tree / directory
        if folder.is_dir():
            candidates += [
                posixpath.join(directory, p.name) if directory else p.name
                for p in sorted(folder.iterdir())
                if p.is_file() and p.name.endswith((".tf", ".tfvars", ".tfvars.json"))
            ]
    candidates += [name for name in var_files if name not in candidates]
    for name in candidates:
        path = tree / name
        if not path.is_file():
            continue
        if name.endswith(".json"):
            broken[name] = "JSON"
            continue
        try:
            files[name] = Document.parse(_read(path), path=name)
        except (HclSyntaxError, UnicodeDecodeError) as exc:
            broken[name] = str(exc)
    return mapping.Workspace(
        files=files, root=root.path, var_files=var_files, env=root.env, broken=broken
    )


class TerraformScanner:
    """Scans the configured roots; one instance per command run or worker."""

    def __init__(
        self,
        *,
        settings: Settings,
        mirrors: Path,
        metrics: Metrics,
        journal: Any = None,
        audit_log: Any = None,
        providers: Providers,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fence: Callable[[], Awaitable[None]] | None = None,
        stop_on: tuple[type[BaseException], ...] = (),
        announce: Callable[[model.TerraformDrift, str | None], None] | None = None,
    ) -> None:
        """``fence`` runs before every write (journal, push, forge) and raises to stop the
        scan (the worker's leadership check); exceptions of ``stop_on`` end the whole scan
        instead of only its root.  ``announce`` hears each new pull request or issue outcome (with
        the Kubernetes namespace of the resource, when it is an object), for notifications."""
        self.settings = settings
        self.mirrors = mirrors
        self.metrics = metrics
        self.journal = journal
        self.audit_log = audit_log
        self.providers = providers
        self.clock = clock
        self.fence = fence
        self.stop_on = stop_on
        self.announce = announce

    async def run(self, *, backfill: bool, only: Sequence[str] = ()) -> list[RootReport]:
        roots = [r for r in self.settings.terraform.roots if not only or r.name in only]
        reports = []
        for root in roots:
            started = time.monotonic()
            report = RootReport(root=root.name, path=root.path or ".")
            try:
                await self._root(root, report, backfill=backfill)
                self.metrics.terraform_scans.labels(root.name, "ok").inc()
            except self.stop_on:
                raise
            except Exception as exc:  # one root's failure never stops the others
                report.error = str(exc) or type(exc).__name__
                self.metrics.terraform_scans.labels(root.name, "error").inc()
                log.warning("terraform_scan_failed", root=root.name, error=str(exc)[:500])
            report.seconds = time.monotonic() - started
            self.metrics.terraform_seconds.observe(report.seconds)
            reports.append(report)
        return reports

    async def _root(
        self, root: TerraformRootSettings, report: RootReport, *, backfill: bool
    ) -> None:
        forge = self.settings.forge_in_use(root.forge)
        token = self.settings.secret(forge.token_env) if forge.token_env else None
        git = Git(token=token)
        mirror = Mirror(url=root.repo, root=self.mirrors, git=git)
        await mirror.sync()
        base = await mirror.head(root.branch)
        if base is None:
            raise PermanentError(
                f"branch {root.branch!r} does not exist in {git.mask(root.repo)} "
                f"(terraform.roots[{root.name}].branch)"
            )
        async with mirror.worktree(base) as tree:
            directory = tree / root.path
            if not directory.is_dir():
                raise PermanentError(
                    f"{root.path!r} is not a directory of {git.mask(root.repo)} at {root.branch} "
                    "(terraform.roots[].path)"
                )
            tofu = self._tofu(root, directory)
            await tofu.init()
            plan = await tofu.plan(refresh_only=True)
            schemas = await tofu.schemas()
            found = drifts.drifted(plan)
            configuration = plan.get("configuration") or {}
            declared = managed_in_code(configuration)
            if declared and not managed_in_state(plan):
                raise PermanentError(
                    f"the state is empty while the code declares {declared} resource(s): a "
                    "scan of an empty state cannot find drift. Is the state where the root "
                    "says (terraform.roots[].backend_config, workspace, env)? A root that was "
                    "never applied has nothing to scan yet"
                )
            del plan  # never kept: it holds every value of the state
            workspace = _workspace(tree, root, configuration)
            decisions = mapping.decide(found, configuration, schemas, workspace)
            del configuration, schemas
            if not backfill:
                authors = await self._authors(decisions)
                report.outcomes = [
                    Outcome(
                        d,
                        FOUND if d.ready else NEEDS_HUMAN,
                        author=authors.get(d.drift.address),
                    )
                    for d in decisions
                ]
                self._gauge(root, report)
                return
            await self._backfill(root, report, decisions, tree, tofu, mirror, base, forge, git)
        self._gauge(root, report)

    def _tofu(self, root: TerraformRootSettings, directory: Path) -> Tofu:
        cache = self.settings.terraform.plugin_cache_dir or (
            self.settings.state_dir / "terraform" / "plugin-cache"
        )
        cache.mkdir(parents=True, exist_ok=True)
        env = Tofu.environment(names=root.env, workspace=root.workspace, plugin_cache=cache)
        return Tofu(
            binary=root.binary,
            directory=directory,
            env=env,
            timeout=self.settings.terraform.timeout_seconds,
            var_files=root.var_files,
            backend_config=root.backend_config,
        )

    def _gauge(self, root: TerraformRootSettings, report: RootReport) -> None:
        for outcome in (PULL_REQUEST, NEEDS_HUMAN, FOUND, IN_CODE):
            count = sum(1 for o in report.outcomes if o.outcome == outcome)
            self.metrics.terraform_drifted.labels(root.name, outcome).set(count)

    async def _authors(self, decisions: Sequence[mapping.Decision]) -> dict[str, str]:
        """For resources that are Kubernetes objects breakglass captured: the user of the
        object's newest capture (drills and unknown authors left out), by address."""
        wanted = {d.drift.kubernetes: d.drift.address for d in decisions if d.drift.kubernetes}
        if not wanted or self.journal is None:
            return {}
        found: dict[str, str] = {}
        for capture in await every_capture(self.journal):  # oldest first: the newest wins
            ref = capture.object
            address = wanted.get((ref.kind, ref.namespace, ref.name))
            if address is None or capture.classification == "drill":
                continue
            if capture.actor.username != model.UNKNOWN_USER:
                found[address] = capture.actor.username
        return found

    async def _backfill(
        self,
        root: TerraformRootSettings,
        report: RootReport,
        decisions: list[mapping.Decision],
        tree: Path,
        tofu: Tofu,
        mirror: Mirror,
        base: str,
        forge: ForgeSettings,
        git: Git,
    ) -> None:
        authors = await self._authors(decisions)
        known = await self._known()
        outcomes = {
            d.drift.address: Outcome(d, NEEDS_HUMAN, author=authors.get(d.drift.address))
            for d in decisions
        }
        for outcome in outcomes.values():
            if outcome.decision.refused:
                outcome.reason = "; ".join(
                    f"{r.attribute}: {r.reason}" for r in outcome.decision.refused
                )
        ready = await self._verified_edits([d for d in decisions if d.ready], outcomes, tree, tofu)
        changed = {
            name: text
            for name, doc in _docs(ready).items()
            if (text := _read(tree / name)) != doc.text
        }
        provider = self._provider(forge, root.repo)
        branch = safe_branch(
            self.settings.backfill.branch_prefix, self.settings.cluster, "tf", root.name
        )
        await self._fenced()
        if ready and changed:
            report.pull_request = await self._pull_request(
                root,
                branch,
                ready,
                changed,
                outcomes,
                known,
                tree,
                mirror,
                base,
                forge,
                git,
                provider,
            )
        else:
            await self._close_stale(branch, provider, outcomes)
        for outcome in outcomes.values():
            if outcome.outcome == NEEDS_HUMAN:
                await self._fenced()
                outcome.url = await self._issue(root, outcome, known, forge, provider)
        report.outcomes = list(outcomes.values())
        await self._fenced()
        await self._record(root, report, known, provider)

    async def _verified_edits(
        self,
        ready: list[mapping.Decision],
        outcomes: Mapping[str, Outcome],
        tree: Path,
        tofu: Tofu,
    ) -> list[mapping.Decision]:
        """Splice the ready decisions' edits into ``tree`` and keep those ``plan`` agrees with:
        no change left for their resources, and no change to any other resource that the
        unedited code did not already have.  The tree holds exactly the kept edits after."""
        originals = {name: doc.text for name, doc in _docs(ready).items()}
        baseline: dict[str, tuple[str, ...]] | None = None
        while ready:
            file_edits, failed, in_code = mapping.edits(ready)
            for decision, reason in failed:
                outcomes[decision.drift.address].reason = reason
            for decision in in_code:
                outcome = outcomes[decision.drift.address]
                outcome.outcome = IN_CODE
                outcome.reason = "the code already says this (merged, not yet applied)"
            done = {id(d) for d, _ in failed} | {id(d) for d in in_code}
            ready = [d for d in ready if id(d) not in done]
            if failed or not ready:
                continue  # again without them: a literal may be shared with another resource
            if baseline is None:
                _write(tree, originals, {})
                baseline = actions(await tofu.plan(refresh_only=False))
            await self._write_edits(tree, originals, file_edits, tofu)
            now = actions(await tofu.plan(refresh_only=False))
            addresses = {d.drift.address for d in ready}
            pending = {a: now[a] for a in addresses if a in now and _changes(now[a])}
            collateral = {
                a: acts
                for a, acts in now.items()
                if a not in addresses and _changes(acts) and acts != baseline.get(a, ("no-op",))
            }
            if not pending and not collateral:
                return ready
            _write(tree, originals, {})
            for address, acts in pending.items():
                outcomes[address].reason = (
                    f"after the edit, plan would still {'/'.join(acts)} {address}: the "
                    "code cannot be made to say what the world is here without a human"
                )
            if collateral:
                others = ", ".join(f"{a} ({'/'.join(x)})" for a, x in sorted(collateral.items()))
                for decision in ready:
                    outcomes[
                        decision.drift.address
                    ].reason = f"the edit would also change {others}: not written"
                return []
            ready = [d for d in ready if d.drift.address not in pending]
        return ready

    async def _write_edits(
        self,
        tree: Path,
        originals: Mapping[str, str],
        file_edits: Mapping[str, Sequence[Any]],
        tofu: Tofu,
    ) -> None:
        """Each edited file as spliced; one the binary's ``fmt`` left unchanged before (the
        repository keeps it formatted) is formatted after, so ``fmt -check`` still passes."""
        for name, text in originals.items():
            edits = file_edits.get(name, ())
            new = apply(text, edits) if edits else text
            if edits and await tofu.fmt(text) == text:
                new = await tofu.fmt(new) or new
            (tree / name).write_bytes(new.encode("utf-8"))

    async def _close_stale(
        self, branch: str, provider: Provider, outcomes: Mapping[str, Outcome]
    ) -> None:
        """Close the root's open pull request when nothing it proposes is drift any more."""
        pr = await provider.find_by_branch(branch)
        if pr is None or pr.state != "open":
            return
        if any(o.url == pr.url and o.outcome == PULL_REQUEST for o in outcomes.values()):
            return
        await provider.close(
            pr,
            comment=(
                "breakglass: no drift left that this pull request would write into the code "
                "(the resources match the code again, or what remains needs a human): closing it."
            ),
        )
        log.info("terraform_pull_request_closed", url=pr.url, reason="no drift left")

    async def _fenced(self) -> None:
        if self.fence is not None:
            await self.fence()

    def _provider(self, forge: ForgeSettings, remote: str) -> Provider:
        return self.providers(forge, remote)

    def _handles(
        self, root: TerraformRootSettings, forge: ForgeSettings, outcomes: Sequence[Outcome]
    ) -> list[str]:
        from breakglass.worker.inputs import handle_for, identity_for

        people = [o.author for o in outcomes if o.author] + list(root.assignees)
        handles = []
        for person in dict.fromkeys(people):
            handle = handle_for(identity_for(self.settings, person), forge.kind)
            if handle and handle not in handles:
                handles.append(handle)
        return handles

    async def _known(self) -> dict[str, model.TerraformDrift]:
        if self.journal is None:
            return {}
        return {d.key: d for d in await self.journal.tf_drifts()}

    async def _pull_request(
        self,
        root: TerraformRootSettings,
        branch: str,
        ready: list[mapping.Decision],
        changed: Mapping[str, str],
        outcomes: Mapping[str, Outcome],
        known: Mapping[str, model.TerraformDrift],
        tree: Path,
        mirror: Mirror,
        base: str,
        forge: ForgeSettings,
        git: Git,
        provider: Provider,
    ) -> str | None:
        pr = await provider.find_by_branch(branch)
        keys = {f"{root.name}|{d.drift.address}|{fingerprint(d)}" for d in ready}
        if (
            pr is not None
            and pr.state == "closed"
            and all(k in known and known[k].url == pr.url for k in keys)
        ):
            for decision in ready:
                outcome = outcomes[decision.drift.address]
                outcome.outcome, outcome.url = PULL_REQUEST, pr.url
                outcome.reason = "a reviewer closed this pull request: revert by apply expected"
            return pr.url
        committer = self.settings.backfill.committer
        branch_head = await mirror.head(branch)
        if pr is not None and pr.state == "open" and branch_head is not None:
            others = sorted(
                {email for _sha, email in await mirror.commits_since(base, branch_head)}
                - {committer.email}
            )
            if others:
                for decision in ready:
                    outcome = outcomes[decision.drift.address]
                    outcome.outcome, outcome.url = PULL_REQUEST, pr.url
                    outcome.reason = f"the branch has commits by {', '.join(others)}: left as it is"
                log.warning("terraform_branch_not_updated", url=pr.url, committers=others)
                return pr.url
        authors = [outcomes[d.drift.address] for d in ready]
        in_pr = {d.drift.address for d in ready}
        title, body = pr_text(
            root=root,
            binary=Path(root.binary).name,
            ready=ready,
            authors={o.decision.drift.address: o.author for o in authors},
            needs_human=[
                o
                for o in outcomes.values()
                if o.outcome == NEEDS_HUMAN and o.decision.drift.address not in in_pr
            ],
        )
        people = sorted({o.author for o in authors if o.author})
        author = (
            _identity(self.settings, people[0])
            if len(people) == 1
            else Identity(committer.name, committer.email)
        )
        message = (
            f"{title}\n\n"
            + "\n".join(
                f"- {d.drift.address}: {', '.join(dict.fromkeys(m.attribute for m in d.mapped))}"
                for d in ready
            )
            + "\n\n"
            + trailers([("Breakglass-Source", FOUND_BY), ("Breakglass-Terraform-Root", root.name)])
        )
        await mirror.commit(
            tree,
            files=dict(changed),
            message=message,
            author=author,
            committer=Identity(committer.name, committer.email),
        )
        same = False
        if pr is not None and pr.state == "open" and branch_head is not None:
            ours = (await git.run("rev-parse", "HEAD^{tree}", cwd=tree)).strip()
            theirs = (
                await git.run("rev-parse", f"{branch_head}^{{tree}}", cwd=mirror.path)
            ).strip()
            same = ours == theirs
        if not same:
            await mirror.push(tree, branch, expected=branch_head)
        spec = PullRequestSpec(
            branch=branch,
            base=root.branch,
            title=title,
            body=body,
            labels=(*self.settings.backfill.labels, "terraform"),
            assignees=tuple(self._handles(root, forge, authors)),
            reviewers=self.settings.backfill.reviewers,
            draft=self.settings.backfill.draft,
        )
        if pr is not None and pr.state == "open":
            pr = await provider.update(pr, spec)
        else:
            pr = await provider.open(spec)
        for decision in ready:
            outcome = outcomes[decision.drift.address]
            outcome.outcome, outcome.url, outcome.reason = PULL_REQUEST, pr.url, ""
        log.info("terraform_pull_request", root=root.name, url=pr.url, resources=len(ready))
        return pr.url

    async def _issue(
        self,
        root: TerraformRootSettings,
        outcome: Outcome,
        known: Mapping[str, model.TerraformDrift],
        forge: ForgeSettings,
        provider: Provider,
    ) -> str | None:
        key = f"{root.name}|{outcome.decision.drift.address}|{fingerprint(outcome.decision)}"
        before = known.get(key)
        if before is not None and before.url:
            return before.url
        title, body = issue_text(root=root, binary=Path(root.binary).name, outcome=outcome)
        return await provider.open_issue(
            title=title,
            body=body,
            labels=(*self.settings.backfill.labels, "terraform", "needs-human"),
            assignees=self._handles(root, forge, [outcome]),
        )

    async def _record(
        self,
        root: TerraformRootSettings,
        report: RootReport,
        known: Mapping[str, model.TerraformDrift],
        provider: Provider | None = None,
    ) -> None:
        """A journal row per drifted resource (first seen kept), an audit record per new
        outcome, and drift of this root that the scan no longer finds marked resolved (its
        issue closed, saying why)."""
        now = self.clock()
        current = {o.decision.drift.address: o.url for o in report.outcomes}
        seen: set[str] = set()
        events = []
        for outcome in report.outcomes:
            decision = outcome.decision
            key = f"{root.name}|{decision.drift.address}|{fingerprint(decision)}"
            seen.add(key)
            before = known.get(key)
            row = model.TerraformDrift(
                root=root.name,
                address=decision.drift.address,
                attributes=decision.attributes,
                fingerprint=fingerprint(decision),
                outcome=outcome.outcome,
                first_seen=before.first_seen if before else now,
                last_seen=now,
                url=outcome.url,
                reason=outcome.reason[:2000],
                author=outcome.author,
            )
            if self.journal is not None:
                await self.journal.put_tf_drift(row)
            if before is None or (before.outcome, before.url) != (row.outcome, row.url):
                if before is None:
                    self.metrics.terraform_outcomes.labels(root.name, row.outcome).inc()
                if self.announce is not None:
                    target = decision.drift.kubernetes
                    self.announce(row, target[1] if target else None)
                events.append(
                    Event(
                        type=EventType.TERRAFORM_DRIFT,
                        capture_id=f"tf:{hashlib.sha256(key.encode()).hexdigest()[:24]}",
                        cluster=self.settings.cluster,
                        actor=model.Actor(username=row.author) if row.author else None,
                        summary={
                            "root": root.name,
                            "address": row.address,
                            "attributes": list(row.attributes),
                            "found_by": FOUND_BY,
                            "reason": row.reason[:500],
                        },
                        outcome=row.outcome,
                        pr_url=row.url,
                    )
                )
        for key, old in known.items():
            if old.root == root.name and old.resolved_at is None and key not in seen:
                done = replace(old, resolved_at=now)
                if self.journal is not None:
                    await self.journal.put_tf_drift(done)
                if old.outcome == NEEDS_HUMAN and provider is not None:
                    await self._close_issue(root, old, current.get(old.address), provider)
                events.append(
                    Event(
                        type=EventType.TERRAFORM_DRIFT,
                        capture_id=f"tf:{hashlib.sha256(key.encode()).hexdigest()[:24]}",
                        cluster=self.settings.cluster,
                        summary={"root": root.name, "address": old.address, "found_by": FOUND_BY},
                        outcome="resolved",
                        pr_url=old.url,
                    )
                )
        if events and self.audit_log is not None:
            await self.audit_log.append_many(events)

    async def _close_issue(
        self,
        root: TerraformRootSettings,
        old: model.TerraformDrift,
        now_at: str | None,
        provider: Provider,
    ) -> None:
        """Close the issue of drift that is gone, or that changed into a newer drift."""
        if now_at and now_at != old.url:
            comment = (
                f"breakglass: the drift of {old.address} changed since; it continues in {now_at}."
            )
        else:
            comment = (
                f"breakglass: a scan of root {root.name} no longer finds this drift (the "
                "resource and the code agree again): resolved."
            )
        if not old.url:
            return
        try:
            await provider.close_issue(old.url, comment=comment)
        except BreakglassError as exc:  # the drift is resolved either way
            log.warning("terraform_issue_not_closed", url=old.url, error=str(exc)[:300])


def _docs(decisions: Sequence[mapping.Decision]) -> dict[str, Document]:
    return {m.target.file: m.target.document for d in decisions for m in d.mapped}


def _read(path: Path) -> str:
    """A file's text with its line endings as they are (no newline translation)."""
    return path.read_bytes().decode("utf-8")


def _write(
    tree: Path, originals: Mapping[str, str], file_edits: Mapping[str, Sequence[Any]]
) -> None:
    """Each file as it was, with these edits (a file without edits is put back)."""
    for name, text in originals.items():
        edits = file_edits.get(name, ())
        (tree / name).write_bytes((apply(text, edits) if edits else text).encode("utf-8"))


def _changes(acts: Sequence[str]) -> bool:
    return any(a not in ("no-op", "read") for a in acts)


def _identity(settings: Settings, username: str) -> Identity:
    from breakglass.worker.inputs import identity_for

    ident = identity_for(settings, username)
    return Identity(ident.name, ident.email)
