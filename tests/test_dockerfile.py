"""The Dockerfile, without a Docker engine: parse it, build the wheel it installs, and lint it
with hadolint when that is installed."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out: list[list[tuple[str, str]]] = [[]]
    for line in joined.splitlines():
        if not line.strip():
            continue
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "FROM":
            out.append([])
        out[-1].append((word.upper(), rest.strip()))
    return out


def final() -> list[tuple[str, str]]:
    return stages()[-1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("*.whl")
    return built


def global_args() -> dict[str, str]:
    """The ARGs declared before the first FROM, with their defaults."""
    return {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in stages()[0] if w == "ARG"}


def named_stage(name: str) -> list[tuple[str, str]]:
    (found,) = [s for s in stages()[1:] if s[0][1].endswith(f" AS {name}")]
    return found


def test_multi_stage_on_python_slim():
    all_stages = stages()
    froms = [args for stage in all_stages for word, args in stage if word == "FROM"]
    assert len(froms) == 3
    assert froms[0].endswith("AS builder")
    assert froms[1].endswith("AS sops")
    args = global_args()
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    python_froms = [f for f in froms if not f.endswith("AS sops")]
    assert all(f.split()[0] == "${PYTHON_IMAGE}" for f in python_froms)


def test_sops_stage_builds_the_tested_sops_and_the_final_stage_copies_it():
    instructions = named_stage("sops")
    assert instructions[0] == ("FROM", "${GO_IMAGE} AS sops")
    assert global_args()["GO_IMAGE"] == "golang:1.26-bookworm"
    build_args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in instructions if w == "ARG"}
    runs = [shlex.split(args) for word, args in instructions if word == "RUN"]
    assert len(runs) == 1
    assert runs[0][:3] == ["CGO_ENABLED=0", "go", "install"]  # static: runs on python-slim
    assert runs[0][-1] == "github.com/getsops/sops/v3/cmd/sops@${SOPS_VERSION}"
    # The image ships the sops version the tests run (tests/e2e/testbin.sh builds it for them).
    testbin = (ROOT / "tests" / "e2e" / "testbin.sh").read_text()
    assert f"SOPS_VERSION=${{BREAKGLASS_SOPS_VERSION:-{build_args['SOPS_VERSION']}}}" in testbin
    assert build_args["SOPS_VERSION"] == "v3.13.3"
    copies = [args for word, args in final() if word == "COPY"]
    assert "--from=sops /go/bin/sops /usr/local/bin/sops" in copies


def test_final_stage_installs_exactly_the_built_wheel(wheel):
    runs = [args for word, args in final() if word == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert len(installs) == 1
    words = shlex.split(installs[0])
    # only what the builder built, nothing fetched at install: breakglass and its PostgreSQL
    # driver come from the builder's wheel directory and nowhere else
    assert "--no-index" in words and "--find-links=/wheels" in words
    assert "breakglass[postgresql]" in words
    assert "--mount=type=bind,from=builder,source=/wheels,target=/wheels" in words
    # ... and the builder builds that wheel with the same command CI uses, and its dependencies
    builder = " ".join(args for word, args in stages()[1] if word == "RUN")
    assert "pip wheel --no-deps --wheel-dir /wheels ." in builder
    built = re.search(r'"\$\(ls (/wheels/[^)]+)\)\[postgresql\]"', builder)
    assert built and fnmatch.fnmatch(wheel.name, Path(built.group(1)).name), builder


def test_final_stage_runs_as_non_root_with_git_and_no_compilers():
    instructions = final()
    users = [args for word, args in instructions if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert users[-1] == "10001:10001"  # the uid deploy/base/deployment.yaml runs as
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert "apt-get install -y --no-install-recommends git" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs
    for tool in ("gcc", "build-essential", "make ", "clang"):
        assert tool not in runs
    envs = " ".join(args for word, args in instructions if word == "ENV")
    assert "PIP_NO_CACHE_DIR=1" in envs
    assert not [a for w, a in instructions if w in ("COPY", "ADD") and ".whl" in a]


def test_oci_labels_and_version(wheel):
    instructions = final()
    labels = " ".join(args for word, args in instructions if word == "LABEL")
    assert 'org.opencontainers.image.source="https://' in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ("ARG", f"VERSION={version}") in instructions
    assert f"-{version}-" in wheel.name
    entry = [args for word, args in instructions if word == "ENTRYPOINT"]
    assert entry == ['["breakglass"]']


def test_dockerignore_lets_only_the_build_inputs_through():
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*") :][:4] == ["*", "!pyproject.toml", "!README.md", "!breakglass/"]
    copied = [args for stage in stages() for word, args in stage if word == "COPY"]
    for args in copied:
        if "--from" in args:
            continue
        for source in args.split()[:-1]:
            assert source.rstrip("/") in ("pyproject.toml", "README.md", "breakglass")


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).is_file():
        pytest.skip("hadolint is not installed (`make install` adds it with the dev extras)")
    proc = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
