"""What the documentation tells a newcomer agrees with the repository: how to run the command the
quick start installs, and the namespace deploy/ installs into."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_quick_start_says_how_to_run_breakglass_from_the_virtualenv():
    venv = re.search(r"^VENV\s*\?=\s*(\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert venv, "VENV in the Makefile"
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands, after = quick_start.split("```sh", 1)[1].split("```", 1)
    assert "make demo" in commands and "make test" in commands
    first_paragraph = after.strip().split("\n\n", 1)[0]
    assert f"{venv.group(1)}/bin/breakglass" in first_paragraph
    assert f"source {venv.group(1)}/bin/activate" in first_paragraph


def test_docs_use_the_namespace_deploy_installs_into():
    base = ROOT / "deploy" / "base"
    namespace = yaml.safe_load((base / "kustomization.yaml").read_text())["namespace"]
    assert yaml.safe_load((base / "namespace.yaml").read_text())["metadata"]["name"] == namespace
    # breakglass's own namespace wherever the docs name one: `namespace: …`, `-n …`,
    # `--namespace …`, and a Service's host name `<service>.<namespace>.svc`
    patterns = (
        r"\bnamespace:\s*([a-z0-9-]+)",
        r"(?:\s-n|--namespace)\s+([a-z0-9-]+)",
        r"\bbreakglass\.([a-z0-9-]+)\.svc\b",
    )
    wrong = [
        f"{doc.relative_to(ROOT)}: {found}"
        for doc in DOCS
        for pattern in patterns
        for found in re.findall(pattern, doc.read_text())
        if found.startswith("breakglass") and found != namespace
    ]
    assert not wrong, f"deploy/ installs into namespace {namespace}"
