"""deploy/monitoring: the alerting rules pass ``promtool check rules`` and fire and stay quiet
as ``tests/alerts.test.yaml`` says, the dashboard is self-contained and its queries parse, the
objects render with kustomize, and every ``breakglass_*`` metric the rules and the dashboard
query is one that ``breakglass.metrics.Metrics`` exports.

promtool and kustomize come from ``tests/e2e/testbin.sh``; without them the tests that run them
skip, or fail with ``BREAKGLASS_E2E=required`` (the policy of ``conftest.py``). The others need
neither.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from breakglass import driftstats
from breakglass.metrics import Metrics
from tests.e2e.controlplane import ToolchainMissing, binaries

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MONITORING = DEPLOY / "monitoring"
RULES = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "dashboard.json"
ALERT_TESTS = MONITORING / "tests" / "alerts.test.yaml"
OPERATORS = ROOT / "docs" / "operators.md"
#: what alerts.test.yaml names as its rule file; the tests write the PrometheusRule's spec there
RULES_FILE = "breakglass.rules.yaml"
RUNBOOKS = "https://github.com/breakglass-dev/breakglass/blob/main/docs/operators.md#"
#: Grafana's own variables, replaced by a duration for promtool (it does not know them)
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1d",
}
#: panel types that ship with Grafana: the dashboard needs no plugin
BUILTIN_PANELS = {"row", "timeseries", "stat", "bargauge", "gauge", "table", "text"}

METRIC_NAME = re.compile(r"(?<![\w:])breakglass_[A-Za-z0-9_:]*")
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


# -- what the files hold ----------------------------------------------------------------------


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["spec"]["groups"]
    return groups


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"] if "alert" in rule]


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return board


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query of every panel."""
    return [
        (panel["title"], target["expr"])
        for panel in panels(dashboard())
        for target in panel.get("targets", [])
    ]


def rule_queries() -> list[tuple[str, str]]:
    return [
        (rule.get("alert") or rule["record"], rule["expr"])
        for group in rule_groups()
        for rule in group["rules"]
    ]


def queried_metrics() -> set[str]:
    """Every ``breakglass_*`` name the rules and the dashboard query, as written there: the
    sample names of the exposition (``breakglass_fail_open_total``,
    ``breakglass_request_duration_seconds_bucket``), not the family names of metrics.py.

    Only the queries are read (never annotations or descriptions), and string literals in them
    are left out, so a label value can never look like a metric.
    """
    names: set[str] = set()
    for _, expr in rule_queries() + dashboard_queries():
        names.update(METRIC_NAME.findall(STRING_LITERAL.sub('""', expr)))
    return names


def exported_metrics() -> dict[str, str]:
    """Sample name -> family name for every metric of a fresh ``Metrics()`` registry.

    Derived from each family's type, not from its samples: a metric with labels has no sample
    until its first ``labels(...)`` call, yet its names are fixed. prometheus_client names a
    counter's family without ``_total`` and exposes ``_total`` and ``_created``; a histogram's
    ``_bucket``, ``_count``, ``_sum`` and ``_created``.
    """
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
        "summary": ("", "_count", "_sum", "_created"),
        "info": ("_info",),
        "stateset": ("",),
        "unknown": ("",),
    }
    exported: dict[str, str] = {}
    metrics = Metrics()
    metrics.export_drift()  # as the worker process does
    metrics.drift.stats = driftstats.DriftStats()
    for family in metrics.registry.collect():
        for suffix in suffixes[family.type]:
            exported[family.name + suffix] = family.name
        for sample in family.samples:
            exported.setdefault(sample.name, family.name)
    return exported


def family_of(sample: str) -> str:
    """The family a queried name would belong to, for messages: one exposition suffix off."""
    for suffix in ("_bucket", "_count", "_sum", "_created", "_total", "_info"):
        if sample.endswith(suffix):
            return sample.removesuffix(suffix)
    return sample


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def jobs_of_servicemonitor() -> set[str]:
    (monitor,) = yaml.safe_load_all((MONITORING / "servicemonitor.yaml").read_text())
    return {
        relabel["replacement"]
        for endpoint in monitor["spec"]["endpoints"]
        for relabel in endpoint.get("relabelings", [])
        if relabel.get("targetLabel") == "job"
    }


# -- tools ------------------------------------------------------------------------------------


def unavailable(message: str) -> None:
    if os.environ.get("BREAKGLASS_E2E") == "required":
        pytest.fail(f"BREAKGLASS_E2E=required but {message}")
    pytest.skip(f"{message} (set BREAKGLASS_E2E=required to make this a failure)")


@pytest.fixture(scope="module")
def bins() -> dict[str, str]:
    if os.environ.get("BREAKGLASS_E2E") == "skip":
        pytest.skip("BREAKGLASS_E2E=skip")
    try:
        return binaries()
    except ToolchainMissing as exc:
        unavailable(f"the test binaries are unavailable: {exc}")
        raise  # not reached: unavailable() skips or fails


def tool(bins: dict[str, str], key: str) -> str:
    path = bins.get(key, "")
    if not path or not Path(path).is_file():
        unavailable(f"tests/e2e/testbin.sh did not produce {key}")
    return path


@pytest.fixture(scope="module")
def promtool(bins: dict[str, str]) -> str:
    return tool(bins, "PROMTOOL")


@pytest.fixture(scope="module")
def kustomize(bins: dict[str, str]) -> str:
    return tool(bins, "KUSTOMIZE")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, check=False, cwd=cwd, timeout=120
    )


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The PrometheusRule's spec as a Prometheus rule file, next to a copy of the unit tests."""
    spec = yaml.safe_load(RULES.read_text())["spec"]
    (tmp_path / RULES_FILE).write_text(yaml.safe_dump(spec, sort_keys=False))
    (tmp_path / ALERT_TESTS.name).write_text(ALERT_TESTS.read_text())
    return tmp_path


# -- the rules --------------------------------------------------------------------------------


def test_rules_pass_promtool_check(promtool: str, rules_dir: Path) -> None:
    out = run(promtool, "check", "rules", str(rules_dir / RULES_FILE))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in out.stdout, out.stdout


def test_every_alert_fires_and_stays_quiet_as_the_unit_tests_say(
    promtool: str, rules_dir: Path
) -> None:
    out = run(promtool, "test", "rules", "--diff", str(rules_dir / ALERT_TESTS.name))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout, out.stdout


def test_unit_tests_fire_and_clear_every_alert() -> None:
    # A rule that never fires passes every "quiet" case and one that always fires every
    # "firing" case: each alert needs both.
    tests = yaml.safe_load(ALERT_TESTS.read_text())
    assert tests["rule_files"] == [RULES_FILE]
    fired: set[str] = set()
    quiet: set[str] = set()
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - fired == set(), "alerts no unit test expects to fire"
    assert names - quiet == set(), "alerts no unit test expects to stay quiet"
    assert (fired | quiet) - names == set(), "unit tests of alerts that do not exist"


def test_every_alert_says_how_bad_what_and_what_to_do() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "alert names repeat"
    for rule in alerts():
        name = rule["alert"]
        assert re.fullmatch(r"Breakglass[A-Z][A-Za-z]+", name), name
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, name
        assert notes["summary"].strip() and len(notes["description"]) > 100, name
        assert notes["runbook_url"] == RUNBOOKS + slug(name), name


def test_rules_select_the_jobs_the_servicemonitor_names() -> None:
    jobs = jobs_of_servicemonitor()
    assert jobs == {"breakglass-webhooks", "breakglass-worker"}
    used = {
        job
        for _, expr in rule_queries() + dashboard_queries()
        for job in re.findall(r'\bjob="([^"]*)"', expr)
    }
    assert used and used <= jobs


def test_runbook_urls_point_at_headings_of_the_operators_guide() -> None:
    anchors = {
        slug(line.lstrip("#"))
        for line in OPERATORS.read_text().splitlines()
        if re.match(r"#{1,6} ", line)
    }
    missing = sorted(
        rule["alert"]
        for rule in alerts()
        if rule["annotations"]["runbook_url"].removeprefix(RUNBOOKS) not in anchors
    )
    assert missing == [], f"docs/operators.md has no heading for {missing}"


# -- the dashboard ----------------------------------------------------------------------------


def test_dashboard_is_self_contained() -> None:
    board = dashboard()
    assert board["uid"] == "breakglass" and board["title"]
    assert "__inputs" not in board and "__requires" not in board
    assert board.get("links", []) == []
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    assert not re.search(r"https?://", DASHBOARD.read_text()), "no external links"
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels(board):
        assert panel["type"] in BUILTIN_PANELS, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert "breakglass_" in target["expr"], panel["title"]


def test_dashboard_queries_parse(promtool: str) -> None:
    bad = []
    for title, expr in dashboard_queries():
        query = expr
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, f"{title}: a Grafana variable promtool cannot parse: {expr}"
        out = run(promtool, "--experimental", "promql", "format", query)
        if out.returncode != 0:
            bad.append(f"{title}: {expr}\n{out.stderr.strip()}")
    assert bad == [], "\n\n".join(bad)


def test_dashboard_covers_what_operators_watch() -> None:
    used = {
        family_of(name) for _, expr in dashboard_queries() for name in METRIC_NAME.findall(expr)
    }
    for family in (
        "breakglass_drift_open",
        "breakglass_drift_oldest_open_seconds",
        "breakglass_drift_resolved",
        "breakglass_drift_time_to_pr_seconds",
        "breakglass_drift_time_to_merge_seconds",
        "breakglass_manual_changes",
        "breakglass_manual_changes_attributed",
        "breakglass_webhook_coverage_ratio",
        "breakglass_request_duration_seconds",
        "breakglass_fail_open",
        "breakglass_worker_leading",
        "breakglass_worker_last_pass_timestamp_seconds",
        "breakglass_render_checks",
        "breakglass_auditlog_records",
        "breakglass_auditlog_errors",
    ):
        assert family in used, family
    scans = {name for name in exported_metrics().values() if name.startswith("breakglass_scan_")}
    assert scans and scans <= used, scans - used


# -- the metrics ------------------------------------------------------------------------------


def test_queried_metrics_are_what_breakglass_exports() -> None:
    queried = queried_metrics()
    assert "breakglass_drift_open" in queried and "breakglass_fail_open_total" in queried
    exported = exported_metrics()
    missing = sorted(queried - set(exported))
    families = sorted({family_of(name) for name in missing})
    assert missing == [], (
        f"queried by deploy/monitoring but not exported by breakglass/metrics.py: {missing} "
        f"(families {families})"
    )


def scraped_families(text: str) -> set[str]:
    """Every family a ``/metrics`` page declares (``# TYPE``), samples or not, and every
    sample name on it."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_every_metric_the_rules_and_dashboard_query_is_served_by_a_running_breakglass(
    cluster: Any,
) -> None:
    """The session's breakglass (`serve` and its worker child) scraped for real: the webhooks'
    /metrics over HTTPS and the worker's at metrics.worker_listen."""
    import ssl
    import time
    import urllib.request

    context = ssl.create_default_context(cafile=str(cluster.pki / "ca.crt"))
    with urllib.request.urlopen(f"{cluster.bg_url}/metrics", context=context, timeout=10) as r:
        webhooks = r.read().decode()
    deadline = time.monotonic() + 60
    worker = ""
    while True:  # the worker (re)starts, then publishes the drift numbers after a journal read
        try:
            with urllib.request.urlopen(f"{cluster.worker_metrics_url}/metrics", timeout=10) as r:
                worker = r.read().decode()
        except OSError:
            worker = ""
        if "breakglass_drift_open" in worker or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    served = scraped_families(webhooks) | scraped_families(worker)
    expanded = set(served)
    for name in served:
        expanded |= {name + s for s in ("_total", "_bucket", "_count", "_sum")}
    missing = sorted(queried_metrics() - expanded)
    assert missing == [], f"queried by deploy/monitoring, served by neither process: {missing}"


def test_queried_metrics_reads_sample_names_not_label_values() -> None:
    assert "breakglass_ready" in queried_metrics()
    assert not any("-" in name or name.endswith("_") for name in queried_metrics())
    expr = 'sum(rate(breakglass_a_total{job="breakglass_b"}[5m])) / breakglass_c_bucket'
    assert set(METRIC_NAME.findall(STRING_LITERAL.sub('""', expr))) == {
        "breakglass_a_total",
        "breakglass_c_bucket",
    }
    assert family_of("breakglass_c_bucket") == "breakglass_c"
    assert exported_metrics()["breakglass_request_duration_seconds_bucket"] == (
        "breakglass_request_duration_seconds"
    )
    assert exported_metrics()["breakglass_fail_open_total"] == "breakglass_fail_open"


# -- the manifests ----------------------------------------------------------------------------


def test_kustomize_renders_the_monitoring_objects(kustomize: str) -> None:
    out = run(kustomize, "build", str(MONITORING))
    assert out.returncode == 0, out.stderr
    objects = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout) if d}
    assert set(objects) == {
        ("Service", "breakglass-metrics"),
        ("ServiceMonitor", "breakglass"),
        ("PrometheusRule", "breakglass"),
        ("ConfigMap", "breakglass-dashboard"),
    }
    for obj in objects.values():
        assert obj["metadata"]["namespace"] == "breakglass"
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "breakglass"

    dashboards = objects["ConfigMap", "breakglass-dashboard"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboards["data"]["breakglass.json"]) == dashboard()
    assert objects["PrometheusRule", "breakglass"]["spec"]["groups"] == rule_groups()

    service = objects["Service", "breakglass-metrics"]
    monitor = objects["ServiceMonitor", "breakglass"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {
        p["name"] for p in service["spec"]["ports"]
    }
    assert service["spec"]["publishNotReadyAddresses"] is True


def test_metrics_service_reaches_both_processes_of_every_pod() -> None:
    # The pods of the base's Deployment and of the replicas overlay's StatefulSet.
    (service,) = yaml.safe_load_all((MONITORING / "service.yaml").read_text())
    for path in (
        DEPLOY / "base" / "deployment.yaml",
        DEPLOY / "overlays/replicas/statefulset.yaml",
    ):
        (workload,) = yaml.safe_load_all(path.read_text())
        template = workload["spec"]["template"]
        assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
        ports = {
            port["name"]: (container["name"], port["containerPort"])
            for container in template["spec"]["containers"]
            for port in container.get("ports", [])
        }
        assert {p["targetPort"]: ports[p["targetPort"]] for p in service["spec"]["ports"]} == {
            "metrics": ("breakglass", 9090),
            "worker-metrics": ("worker", 9091),
        }
    # No other Service carries the label the ServiceMonitor selects: each pod is scraped once.
    (monitor,) = yaml.safe_load_all((MONITORING / "servicemonitor.yaml").read_text())
    selector = monitor["spec"]["selector"]["matchLabels"]
    for path in DEPLOY.rglob("*.yaml"):
        if path.parent == MONITORING / "tests":
            continue
        # The Helm chart's templates are not YAML until rendered, and it renders the Services
        # of deploy/ and nothing else (tests/e2e/test_helm_chart.py compares them).
        if path.is_relative_to(DEPLOY / "helm"):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "Service":
                continue
            if doc["metadata"]["name"] != "breakglass-metrics":
                assert not selector.items() <= doc["metadata"].get("labels", {}).items(), path


def test_readme_overlays_build(kustomize: str, tmp_path: Path) -> None:
    # README.md's example overlays (the label for kube-prometheus-stack, a changed threshold and
    # a removed alert, whose JSON patch names rules by index) build against this directory.
    readme = (MONITORING / "README.md").read_text()
    overlays = re.findall(r"```yaml\n(# monitoring/kustomization\.yaml.*?)```", readme, re.S)
    assert len(overlays) == 2
    shutil.copytree(MONITORING, tmp_path / "deploy" / "monitoring")
    for text in overlays:
        (tmp_path / "monitoring").mkdir(exist_ok=True)
        (tmp_path / "monitoring" / "kustomization.yaml").write_text(text)
        out = run(kustomize, "build", str(tmp_path / "monitoring"))
        assert out.returncode == 0, text + out.stderr
        (rule,) = [d for d in yaml.safe_load_all(out.stdout) if d["kind"] == "PrometheusRule"]
        names = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
        if "patches:" in text:
            assert names == {r["alert"] for r in alerts()} - {"BreakglassAuditEventsMissing"}
        else:
            assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
