"""The Terraform scan's decisions around the forge, with a stand-in ``tofu``.

The real OpenTofu runs in ``tests/e2e/test_terraform.py``; here a small executable answers
``init``, ``plan -out``, ``show -json`` and ``providers schema -json`` from files the test
writes, so the paths the real provider rarely takes can be driven: a ``plan`` that still
changes the resource after the edit (a human is asked, nothing is pushed), the environment the
binary gets (only the variables a root names), a binary that fails (the root says why), and a
repeated scan (nothing opened twice).  Git, the journal and the local forge are real.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from breakglass import settings
from breakglass.journal import open_journal
from breakglass.metrics import Metrics
from breakglass.terraform.scan import TerraformScanner
from breakglass.worker.connect import make_provider
from tests.backfill.conftest import bare_remote, git
from tests.terraform.planbuilder import FIXTURES, configuration, drift

MAIN = """\
resource "kubernetes_deployment" "web" {
  metadata {
    name      = "web"
    namespace = "shop"
  }
  spec {
    replicas = 2 # one per zone
  }
}
"""

FAKE = """\
#!{python}
import json, os, pathlib, sys
here = pathlib.Path({here!r})
args = sys.argv[1:]
(here / "calls.log").open("a").write(" ".join(args[:1]) + " " + json.dumps(dict(os.environ)) + "\\n")
if args[0] == "init":
    sys.exit(int((here / "init-exit").read_text()) if (here / "init-exit").exists() else 0)
if args[0] == "plan":
    out = next(a.split("=", 1)[1] for a in args if a.startswith("-out="))
    edited = "replicas = 5" in pathlib.Path("main.tf").read_text()
    mode = "refresh" if "-refresh-only" in args else "normal"
    if mode == "normal" and edited and (here / "edited.json").exists():
        mode = "edited"
    pathlib.Path(out).write_text(mode)
    sys.exit(0)
if args[0] == "show":
    mode = pathlib.Path(args[-1]).read_text()
    sys.stdout.write((here / (mode + ".json")).read_text())
    sys.exit(0)
if args[0] == "providers":
    sys.stdout.write((here / "schema.json").read_text())
    sys.exit(0)
sys.exit(3)
"""


def _state(replicas: int) -> dict[str, Any]:
    return {
        "id": "shop/web",
        "metadata": [{"name": "web", "namespace": "shop", "resource_version": "1"}],
        "spec": [{"replicas": replicas}],
    }


@pytest.fixture
def main_tf() -> str:
    return MAIN


@pytest.fixture
def bed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, main_tf: str) -> dict[str, Any]:
    seed = tmp_path / "seed"
    (seed / "infra").mkdir(parents=True)
    (seed / "infra" / "main.tf").write_bytes(main_tf.encode())
    remote = bare_remote(seed)
    fake = tmp_path / "fake"
    fake.mkdir()
    binary = fake / "tofu"
    binary.write_text(FAKE.format(python=sys.executable, here=str(fake)))
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    (fake / "schema.json").write_text((FIXTURES / "kubernetes-1.13.4-schema.json").read_text())
    plan = {
        "format_version": "1.2",
        "resource_drift": [drift("kubernetes_deployment.web", _state(2), _state(5))],
        "configuration": configuration({"infra/main.tf": MAIN}, "infra"),
        "prior_state": {
            "values": {
                "root_module": {
                    "resources": [
                        {"address": "kubernetes_deployment.web", "mode": "managed",
                         "type": "kubernetes_deployment", "name": "web", "values": _state(2)}
                    ]
                }
            }
        },
    }  # fmt: skip
    (fake / "refresh.json").write_text(json.dumps(plan))
    (fake / "normal.json").write_text(
        json.dumps(
            {"resource_changes": [{"address": "kubernetes_deployment.web",
                                   "change": {"actions": ["no-op"]}}]}
        )
    )  # fmt: skip
    config = tmp_path / "breakglass.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            cluster: unit
            state_dir: {tmp_path / "state"}
            terraform:
              roots:
                - name: infra
                  repo: {remote}
                  path: infra
                  binary: {binary}
                  env: [CLOUD_TOKEN]
            """
        )
    )
    monkeypatch.setenv("CLOUD_TOKEN", "t0ken-for-the-provider")
    monkeypatch.setenv("GITHUB_TOKEN", "forge-token-not-for-tofu")
    return {"config": config, "remote": remote, "fake": fake, "tmp": tmp_path}


async def _scan_all(
    bed: dict[str, Any], *, backfill: bool = True, heard: list[Any] | None = None
) -> Any:
    """Every root's report, and the journal's Terraform rows after the scan; what the scan
    announced goes to ``heard``."""
    conf = settings.load(bed["config"])
    journal = open_journal(conf.journal_url)
    await journal.open()
    try:
        scanner = TerraformScanner(
            settings=conf,
            mirrors=bed["tmp"] / "mirrors",
            metrics=Metrics(),
            journal=journal,
            providers=lambda forge, remote: make_provider(forge, remote=remote, settings=conf),
            announce=None if heard is None else lambda d, ns: heard.append((d.outcome, d.url, ns)),
        )
        return await scanner.run(backfill=backfill), list(await journal.tf_drifts())
    finally:
        await journal.close()


async def _scan(bed: dict[str, Any], *, backfill: bool = True) -> Any:
    """The one root's report, and the journal's Terraform rows."""
    reports, rows = await _scan_all(bed, backfill=backfill)
    return reports[0], rows


def _records(bed: dict[str, Any]) -> list[dict[str, Any]]:
    folder = bed["tmp"] / "state" / "pull-requests"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


async def test_a_verified_edit_becomes_one_pull_request_and_a_second_scan_adds_nothing(
    bed: dict[str, Any],
) -> None:
    report, rows = await _scan(bed)
    assert report.error is None and report.pull_request is not None
    assert [o.outcome for o in report.outcomes] == ["pull_request"]
    diff = git("diff", "main", "breakglass/unit/tf/infra", cwd=bed["remote"])
    assert "-    replicas = 2 # one per zone\n+    replicas = 5 # one per zone" in diff
    assert [r.outcome for r in rows] == ["pull_request"]
    again, rows_again = await _scan(bed)
    assert again.pull_request == report.pull_request
    assert len(_records(bed)) == 1 and len(rows_again) == 1
    assert rows_again[0].first_seen == rows[0].first_seen
    assert rows_again[0].last_seen > rows[0].last_seen


async def test_an_edit_that_plan_still_disagrees_with_goes_to_a_human_unpushed(
    bed: dict[str, Any],
) -> None:
    (bed["fake"] / "normal.json").write_text(
        json.dumps(
            {"resource_changes": [{"address": "kubernetes_deployment.web",
                                   "change": {"actions": ["update"]}}]}
        )
    )  # fmt: skip
    report, rows = await _scan(bed)
    assert [o.outcome for o in report.outcomes] == ["needs_human"]
    assert "after the edit, plan would still update kubernetes_deployment.web" in (
        report.outcomes[0].reason
    )
    assert "breakglass/unit/tf/infra" not in git("branch", "--list", cwd=bed["remote"])
    (issue,) = _records(bed)
    assert issue["kind"] == "issue" and "needs a human" in issue["title"]
    assert rows[0].url == issue["url"]


async def test_the_binary_gets_only_the_variables_the_root_names(bed: dict[str, Any]) -> None:
    await _scan(bed, backfill=False)
    calls = (bed["fake"] / "calls.log").read_text().splitlines()
    assert {line.split(" ", 1)[0] for line in calls} == {"init", "plan", "show", "providers"}
    for line in calls:
        env = json.loads(line.split(" ", 1)[1])
        assert env["CLOUD_TOKEN"] == "t0ken-for-the-provider"
        assert "GITHUB_TOKEN" not in env and env["TF_IN_AUTOMATION"] == "1"
        assert "TF_PLUGIN_CACHE_DIR" in env


async def test_without_backfill_nothing_is_written(bed: dict[str, Any]) -> None:
    report, rows = await _scan(bed, backfill=False)
    assert [o.outcome for o in report.outcomes] == ["found"]
    assert rows == [] and _records(bed) == []


async def test_a_failing_init_is_the_roots_error_not_a_crash(bed: dict[str, Any]) -> None:
    (bed["fake"] / "init-exit").write_text("1")
    report, _ = await _scan(bed)
    assert report.error is not None and report.error.startswith("tofu init failed (exit 1)")
    assert report.outcomes == []


def _normal(path: Path, **actions: list[str]) -> None:
    changes = [
        {"address": a.replace("__", "."), "change": {"actions": x}} for a, x in actions.items()
    ]
    path.write_text(json.dumps({"resource_changes": changes}))


async def test_an_edit_that_would_change_another_resource_is_not_written(
    bed: dict[str, Any],
) -> None:
    _normal(bed["fake"] / "normal.json", kubernetes_deployment__web=["update"])
    _normal(bed["fake"] / "edited.json", kubernetes_deployment__web=["no-op"],
            kubernetes_deployment__api=["update"])  # fmt: skip
    report, _ = await _scan(bed)
    (outcome,) = report.outcomes
    assert outcome.outcome == "needs_human"
    assert outcome.reason == (
        "the edit would also change kubernetes_deployment.api (update): not written"
    )
    assert "breakglass/unit/tf/infra" not in git("branch", "--list", cwd=bed["remote"])


async def test_an_empty_state_is_an_error_not_no_drift(bed: dict[str, Any]) -> None:
    plan = json.loads((bed["fake"] / "refresh.json").read_text())
    plan.pop("prior_state")
    plan["resource_drift"] = []
    (bed["fake"] / "refresh.json").write_text(json.dumps(plan))
    report, _ = await _scan(bed, backfill=False)
    assert report.error is not None
    assert report.error.startswith("the state is empty while the code declares 1 resource(s)")


async def test_a_reviewers_commit_on_the_branch_is_never_overwritten(bed: dict[str, Any]) -> None:
    first, _ = await _scan(bed)
    review = bed["tmp"] / "review"
    git("clone", "-q", "-b", "breakglass/unit/tf/infra", str(bed["remote"]), str(review),
        cwd=bed["tmp"])  # fmt: skip
    (review / "infra" / "main.tf").write_text(
        (review / "infra" / "main.tf").read_text() + "# reviewed\n"
    )
    git("-c", "user.name=Bob", "-c", "user.email=bob@example.com", "commit", "-qam", "review",
        cwd=review)  # fmt: skip
    git("push", "-q", "origin", "HEAD", cwd=review)
    head = git("rev-parse", "breakglass/unit/tf/infra", cwd=bed["remote"]).strip()
    plan = json.loads((bed["fake"] / "refresh.json").read_text())
    plan["resource_drift"][0]["change"]["after"]["spec"][0]["replicas"] = 6
    (bed["fake"] / "refresh.json").write_text(json.dumps(plan))
    again, _ = await _scan(bed)
    assert git("rev-parse", "breakglass/unit/tf/infra", cwd=bed["remote"]).strip() == head
    (outcome,) = again.outcomes
    assert outcome.url == first.pull_request
    assert outcome.reason.startswith("the branch has commits by ")
    assert outcome.reason.endswith("example.com: left as it is")


async def test_the_pull_request_is_closed_when_its_drift_is_gone(bed: dict[str, Any]) -> None:
    await _scan(bed)
    plan = json.loads((bed["fake"] / "refresh.json").read_text())
    plan["resource_drift"] = []
    (bed["fake"] / "refresh.json").write_text(json.dumps(plan))
    again, rows = await _scan(bed)
    assert again.outcomes == [] and rows[0].resolved_at is not None
    (pr,) = _records(bed)
    assert pr["state"] == "closed" and "no drift left" in pr["comments"][-1]["body"]


async def test_one_root_that_fails_does_not_stop_the_others(bed: dict[str, Any]) -> None:
    text = bed["config"].read_text()
    broken = text.replace(
        "    - name: infra\n",
        "    - name: gone\n      repo: /nonexistent/repo.git\n    - name: infra\n",
        1,
    )
    bed["config"].write_text(broken)
    (gone, infra), _ = await _scan_all(bed, backfill=False)
    assert gone.root == "gone" and gone.error is not None and "nonexistent" in gone.error
    assert infra.error is None and [o.outcome for o in infra.outcomes] == ["found"]


@pytest.mark.parametrize("main_tf", [MAIN.replace("\n", "\r\n")])
async def test_a_crlf_file_keeps_its_line_endings(bed: dict[str, Any]) -> None:
    await _scan(bed)
    shown = subprocess.run(
        ["git", "show", "breakglass/unit/tf/infra:infra/main.tf"],
        cwd=bed["remote"], capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert shown == MAIN.replace("replicas = 2", "replicas = 5").replace("\n", "\r\n").encode()


async def test_issues_are_closed_when_their_drift_changes_or_goes(bed: dict[str, Any]) -> None:
    _normal(bed["fake"] / "normal.json", kubernetes_deployment__web=["update"])  # never verified
    first, _ = await _scan(bed)
    plan = json.loads((bed["fake"] / "refresh.json").read_text())
    plan["resource_drift"][0]["change"]["after"]["spec"][0]["replicas"] = 6
    (bed["fake"] / "refresh.json").write_text(json.dumps(plan))
    second, _ = await _scan(bed)
    old, new = _records(bed)
    assert old["url"] == first.outcomes[0].url and new["url"] == second.outcomes[0].url
    assert old["state"] == "closed" and new["state"] == "open"
    assert old["comments"][-1]["body"].endswith(f"it continues in {new['url']}.")
    plan["resource_drift"] = []
    (bed["fake"] / "refresh.json").write_text(json.dumps(plan))
    await _scan(bed)
    _, new = _records(bed)
    assert new["state"] == "closed" and "no longer finds this drift" in new["comments"][-1]["body"]


async def test_a_failed_fence_stops_the_scan_before_it_writes(bed: dict[str, Any]) -> None:
    class Lost(Exception):
        pass

    async def fence() -> None:
        raise Lost("another replica leads now")

    conf = settings.load(bed["config"])
    scanner = TerraformScanner(
        settings=conf,
        mirrors=bed["tmp"] / "mirrors",
        metrics=Metrics(),
        providers=lambda forge, remote: make_provider(forge, remote=remote, settings=conf),
        fence=fence,
        stop_on=(Lost,),
    )
    with pytest.raises(Lost):
        await scanner.run(backfill=True)
    assert _records(bed) == []
    assert "breakglass/unit/tf/infra" not in git("branch", "--list", cwd=bed["remote"])


async def test_each_new_outcome_is_announced_once(bed: dict[str, Any]) -> None:
    heard: list[Any] = []
    (report,), _ = await _scan_all(bed, heard=heard)
    assert heard == [("pull_request", report.pull_request, "shop")]
    await _scan_all(bed, heard=heard)
    assert len(heard) == 1  # the same drift, the same pull request: no news
