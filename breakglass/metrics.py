"""Prometheus metrics: one registry per process (per app in tests), named ``breakglass_*``.

Kept outside ``web/`` because the backfill worker and the journal report into the same
registry; ``web/`` only exposes it on ``/metrics``.  Label values are always from small fixed
sets (endpoint, outcome, reason, operation, kind): never names, users or object bodies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from breakglass import driftstats

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """All metrics breakglass exports, registered in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "breakglass_requests",
            "HTTP requests handled, by endpoint and outcome.",
            ["endpoint", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "breakglass_request_duration_seconds",
            "Time from request received to response ready, by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.captures = Counter(
            "breakglass_captures",
            "Manual changes captured, by source, operation, kind and classification.",
            ["source", "operation", "kind", "classification"],
            registry=r,
        )
        self.skips = Counter(
            "breakglass_skipped_requests",
            "Requests that were not manual changes, by reason.",
            ["endpoint", "reason"],
            registry=r,
        )
        self.confirmations = Counter(
            "breakglass_confirmations",
            "Provisional captures confirmed by an audit event.",
            registry=r,
        )
        self.audit_events = Counter(
            "breakglass_audit_events",
            "Audit events received, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.journal_errors = Counter(
            "breakglass_journal_errors",
            "Journal operations that failed, by operation.",
            ["operation"],
            registry=r,
        )
        self.fail_open = Counter(
            "breakglass_fail_open",
            "Admission requests allowed without a durable capture, by reason.",
            ["reason"],
            registry=r,
        )
        self.denied = Counter(
            "breakglass_admission_denied",
            "Manual writes refused by admission.mode, by mode and whether it was a dry run.",
            ["mode", "dry_run"],
            registry=r,
        )
        self.sessions = Counter(
            "breakglass_sessions",
            "Break-glass session writes the webhook judged, by operation and outcome.",
            ["operation", "outcome"],
            registry=r,
        )
        self.unusable = Counter(
            "breakglass_unusable_payloads",
            "Parseable payloads that could not be understood, by endpoint.",
            ["endpoint"],
            registry=r,
        )
        self.tls_reloads = Counter(
            "breakglass_tls_reloads",
            "Serving certificate reloads, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.auditlog_errors = Counter(
            "breakglass_auditlog_errors",
            "Audit log operations that failed or timed out, by operation.",
            ["operation"],
            registry=r,
        )
        self.auditlog_records = Counter(
            "breakglass_auditlog_records",
            "Records appended to the tamper-evident audit log, by type.",
            ["type"],
            registry=r,
        )
        self.auditlog_seq = Gauge(
            "breakglass_auditlog_seq",
            "Sequence number of the newest audit log record written by this process.",
            registry=r,
        )
        self.ready = Gauge(
            "breakglass_ready", "1 when the journal is writable, else 0.", registry=r
        )

        self.backfills = Counter(
            "breakglass_backfills",
            "Backfill outcomes per capture: pr, unmanaged, discarded, failed.",
            ["outcome"],
            registry=r,
        )
        self.time_to_pr = Histogram(
            "breakglass_time_to_pr_seconds",
            "From the manual change to its pull request being opened or updated.",
            buckets=(1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
            registry=r,
        )
        self.self_heal_paused = Gauge(
            "breakglass_self_heal_paused",
            "GitOps applications whose self-heal a break-glass session paused (1 while paused).",
            ["tool", "kind", "namespace", "name"],
            registry=r,
        )
        self.self_heal_overdue = Gauge(
            "breakglass_self_heal_overdue",
            "Paused applications past their session's deadline and not yet put back.",
            registry=r,
        )
        self.self_heal_changes = Counter(
            "breakglass_self_heal_changes",
            "Self-heal pauses and restores the worker made, by action and outcome.",
            ["action", "outcome"],
            registry=r,
        )
        self.worker_errors = Counter(
            "breakglass_worker_errors",
            "Unexpected errors in the worker, by stage (confirm, backfill, track, leadership, "
            "pass, notify); each is logged at error with its traceback, and the worker goes on.",
            ["stage"],
            registry=r,
        )
        self.worker_restarts = Counter(
            "breakglass_worker_restarts",
            "Times `serve` restarted its worker process after it exited (the reason is logged "
            "as worker_process_exited).",
            registry=r,
        )
        self.worker_up = Gauge(
            "breakglass_worker_process_up",
            "1 while the worker process that `serve` started is running.",
            registry=r,
        )
        self.render_seconds = Histogram(
            "breakglass_render_check_seconds",
            "Time to render a backfill branch and its base and compare them (render check).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.render_checks = Counter(
            "breakglass_render_checks",
            "Render checks by result: proven, failed, skipped (a binary missing, the base "
            "not rendering, or a Helm chart rendered elsewhere).",
            ["result"],
            registry=r,
        )
        self.time_to_merge = Histogram(
            "breakglass_time_to_merge_seconds",
            "From the manual change to its pull request being merged (drift lifetime).",
            buckets=(60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
            registry=r,
        )
        self.scan_runs = Counter(
            "breakglass_scan_runs",
            "Scans run (`breakglass scan` or `scan.interval` in the worker), by result: ok, "
            "or error when a source, a render or a LIST failed (the scan said which).",
            ["result"],
            registry=r,
        )
        self.scan_objects = Gauge(
            "breakglass_scan_objects",
            "Objects the last scan listed and judged.",
            registry=r,
        )
        self.scan_drifted_objects = Gauge(
            "breakglass_scan_drifted_objects",
            "Objects with drift (from Git, made by a person's tool) found by the last scan.",
            registry=r,
        )
        self.scan_uncaptured = Counter(
            "breakglass_scan_uncaptured_drift",
            "Objects whose drift a scan found that no webhook capture covered: changes that "
            "bypassed breakglass (it was down, the webhook failed open, no audit). The webhook's "
            "coverage is 1 minus its rate over the rate of captures.",
            registry=r,
        )
        self.scan_seconds = Histogram(
            "breakglass_scan_seconds",
            "Time one scan took: sources, renders, LISTs, judging, recording.",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.terraform_scans = Counter(
            "breakglass_terraform_scans",
            "OpenTofu/Terraform root scans (`breakglass tf scan` or `terraform.interval`), by "
            "root and result: ok, or error when init, plan or the repository failed.",
            ["root", "result"],
            registry=r,
        )
        self.terraform_drifted = Gauge(
            "breakglass_terraform_drifted_resources",
            "Resources with drift the last plan -refresh-only of a root found, by root and "
            "outcome: pull_request, needs_human, found (a scan without --backfill).",
            ["root", "outcome"],
            registry=r,
        )
        self.terraform_outcomes = Counter(
            "breakglass_terraform_drift",
            "OpenTofu/Terraform drift first seen, by root and outcome (pull_request, "
            "needs_human, found).",
            ["root", "outcome"],
            registry=r,
        )
        self.terraform_seconds = Histogram(
            "breakglass_terraform_scan_seconds",
            "Time one root's scan took: mirror, init, plans, mapping, verification, forge.",
            buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.worker_leading = Gauge(
            "breakglass_worker_leading",
            "1 while this worker process leads (runs the passes), 0 while it stands by; the "
            "sum over replicas is 1 when all is well.",
            registry=r,
        )
        self.worker_last_pass = Gauge(
            "breakglass_worker_last_pass_timestamp_seconds",
            "When this worker last finished a pass (Unix time); a leader whose value stops "
            "moving is stuck.",
            registry=r,
        )
        self.tls_expiry = Gauge(
            "breakglass_tls_certificate_expiry_timestamp_seconds",
            "When the serving certificate the webhooks present expires (Unix time).",
            registry=r,
        )
        self.notifications = Counter(
            "breakglass_notifications",
            "Notifications by destination (its configured name), event and outcome: delivered, "
            "refused (the destination answered with a status that retrying cannot fix), gave_up "
            "(attempts or time exhausted), dropped (its queue was full: the oldest goes), "
            "abandoned (still queued when the worker stopped).",
            ["destination", "event", "outcome"],
            registry=r,
        )
        self.notification_queue = Gauge(
            "breakglass_notification_queue_depth",
            "Notifications waiting to be delivered, by destination.",
            ["destination"],
            registry=r,
        )
        self.notification_retries = Counter(
            "breakglass_notification_retries",
            "Notification attempts that failed and were tried again, by destination.",
            ["destination"],
            registry=r,
        )
        self.drift = DriftCollector()

    def export_drift(self) -> None:
        """Export the drift numbers from the journal (the worker does; see DriftCollector)."""
        self.registry.register(self.drift)

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)


#: buckets of the drift durations: a minute to a month
_DRIFT_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 24 * 3600, 3 * 86400, 7 * 86400, 30 * 86400)


class DriftCollector(Collector):
    """The drift numbers of the last journal snapshot (``driftstats.DriftStats``).

    Computed from the journal, not counted by the process, so every replica and every restart
    reports the same values; the worker refreshes the snapshot every
    ``metrics.drift_refresh_seconds``.  Nothing is exported before the first snapshot.
    """

    def __init__(self) -> None:
        self.stats: driftstats.DriftStats | None = None
        self.refreshed: float = 0.0

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        if stats is None:
            return
        opened = GaugeMetricFamily(
            "breakglass_drift_open",
            "Manual changes not yet in Git, by namespace, kind, repository and state (pending, "
            "pr_open, needs_human, failed, unmanaged).",
            labels=["namespace", "kind", "repository", "state"],
        )
        for (namespace, kind, repo, state), count in sorted(stats.open.items()):
            opened.add_metric([namespace, kind, repo, state], count)
        yield opened
        yield GaugeMetricFamily(
            "breakglass_drift_oldest_open_seconds",
            "Age of the oldest manual change not yet in Git (0 when there is none).",
            value=stats.oldest_open_seconds,
        )
        resolved = CounterMetricFamily(
            "breakglass_drift_resolved",
            "Drift that ended, by outcome: merged, closed, withdrawn (its author undid it), "
            "reverted (the GitOps controller undid it), superseded.",
            labels=["outcome"],
        )
        for name in driftstats.OUTCOMES:
            resolved.add_metric([name], stats.resolved.get(name, 0))
        yield resolved
        for name, values, text in (
            ("time_to_pr", stats.time_to_pr, "From the change to its pull request."),
            ("time_to_merge", stats.time_to_merge, "From the change to its merge into Git."),
            (
                "time_to_resolution",
                stats.time_to_resolution,
                "From the change to the end of the drift, whatever the outcome.",
            ),
            (
                "time_to_detection",
                stats.time_to_detection,
                "From the change to breakglass knowing of it (0 for the webhooks; a scan's "
                "drift is at least this old).",
            ),
        ):
            yield _histogram(f"breakglass_drift_{name}_seconds", text, values)
        changes = CounterMetricFamily(
            "breakglass_manual_changes",
            "Manual changes recorded, by source (admission, audit: the webhooks; scan: found "
            "in the cluster afterwards).",
            labels=["source"],
        )
        named = CounterMetricFamily(
            "breakglass_manual_changes_attributed",
            "Manual changes whose author is a named person, by source.",
            labels=["source"],
        )
        in_session = CounterMetricFamily(
            "breakglass_manual_changes_in_sessions",
            "Manual changes made inside a break-glass session, by source.",
            labels=["source"],
        )
        for source in driftstats.SOURCES:
            changes.add_metric([source], stats.changes.get(source, 0))
            named.add_metric([source], stats.attributed.get(source, 0))
            in_session.add_metric([source], stats.in_session.get(source, 0))
        yield changes
        yield named
        yield in_session
        yield GaugeMetricFamily(
            "breakglass_sessions_open",
            "Break-glass sessions open now.",
            value=stats.sessions_open,
        )
        coverage = stats.coverage()
        yield GaugeMetricFamily(
            "breakglass_webhook_coverage_ratio",
            "Share of manual changes the webhooks captured (1 - found only by scan / all).",
            value=1.0 if coverage is None else coverage,
        )
        yield GaugeMetricFamily(
            "breakglass_drift_refresh_timestamp_seconds",
            "When these drift numbers were last computed from the journal (Unix time).",
            value=self.refreshed,
        )


def _histogram(name: str, documentation: str, values: Sequence[float]) -> Metric:
    buckets: list[tuple[str, float]] = []
    for bound in _DRIFT_BUCKETS:
        buckets.append((str(float(bound)), float(sum(1 for v in values if v <= bound))))
    buckets.append(("+Inf", float(len(values))))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=sum(values))
