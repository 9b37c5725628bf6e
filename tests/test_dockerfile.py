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


GO_STAGES = ("sops", "kustomize", "helm")


def test_multi_stage_on_python_slim():
    all_stages = stages()
    froms = [args for stage in all_stages for word, args in stage if word == "FROM"]
    assert len(froms) == 5
    assert froms[0].endswith("AS builder")
    assert [f.split()[-1] for f in froms[1:4]] == list(GO_STAGES)
    args = global_args()
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    python_froms = [f for f in froms if f.split()[-1] not in GO_STAGES]
    assert len(python_froms) == 2
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


def stage_args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    return {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in instructions if w == "ARG"}


def go_install(run: str) -> list[str]:
    """The words of the `go install` command of a RUN (its last `&&` step)."""
    words = shlex.split(run.rsplit("&&", 1)[-1])
    assert words[words.index("go") + 1] == "install", run
    return words


@pytest.mark.parametrize(
    ("name", "package", "version_arg", "version"),
    [
        ("kustomize", "sigs.k8s.io/kustomize/kustomize/v5", "KUSTOMIZE_VERSION", "v5.8.2"),
        ("helm", "helm.sh/helm/v3/cmd/helm", "HELM_VERSION", "v3.21.4"),
    ],
)
def test_render_tool_stages_build_the_tested_versions_and_the_final_stage_copies_them(
    name, package, version_arg, version
):
    instructions = named_stage(name)
    assert instructions[0] == ("FROM", f"${{GO_IMAGE}} AS {name}")
    args = stage_args(instructions)
    assert args == {version_arg: version}
    # The image ships the version the tests run (tests/e2e/testbin.sh builds it for them).
    testbin = (ROOT / "tests" / "e2e" / "testbin.sh").read_text()
    assert f"{version_arg}=${{BREAKGLASS_{version_arg}:-{version}}}" in testbin
    runs = [args for word, args in instructions if word == "RUN"]
    assert len(runs) == 1
    words = go_install(runs[0])
    assert "CGO_ENABLED=0" in words[: words.index("go")]  # static: runs on python-slim
    assert "-trimpath" in words
    (ldflags,) = [w for w in words if w.startswith("-ldflags=")]
    assert ldflags.removeprefix("-ldflags=").split()[:2] == ["-s", "-w"]
    assert words[-1] == f"{package}@${{{version_arg}}}"
    copies = [args for word, args in final() if word == "COPY"]
    assert f"--from={name} /go/bin/{name} /usr/local/bin/{name}" in copies


def test_helm_gets_the_version_and_kubernetes_minor_its_makefile_sets(tmp_path):
    (run,) = [args for word, args in named_stage("helm") if word == "RUN"]
    (ldflags,) = [w for w in go_install(run) if w.startswith("-ldflags=")]
    pairs = dict(
        flag.split("=", 1) for flag in re.findall(r"-X (\S+)", ldflags.removeprefix("-ldflags="))
    )
    assert pairs == {
        "helm.sh/helm/v3/internal/version.version": "${HELM_VERSION}",
        "helm.sh/helm/v3/internal/version.gitTreeState": "clean",
        "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor": "1",
        "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor": "${minor}",
        "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor": "1",
        "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor": "${minor}",
    }
    # ${minor} comes from the client-go that helm's go.mod requires: run that awk program on one
    awk = shutil.which("awk")
    if awk is None:
        pytest.skip("awk is not installed")
    program = re.search(r"awk '([^']+)'", run)
    assert program, run
    gomod = tmp_path / "go.mod"
    gomod.write_text(
        "module helm.sh/helm/v3\n\ngo 1.26.0\n\nrequire (\n"
        "\tk8s.io/api v0.36.2\n\tk8s.io/client-go v0.36.2\n\tk8s.io/klog/v2 v2.130.1\n)\n"
        "\nrequire k8s.io/client-go/extra v0.1.0 // indirect\n"
    )
    done = subprocess.run(
        [awk, program.group(1), str(gomod)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "36\n"
    # ... and the same paths are what tests/e2e/testbin.sh sets for the tests' helm
    testbin = (ROOT / "tests" / "e2e" / "testbin.sh").read_text()
    assert "local v=helm.sh/helm/v3/internal/version" in testbin
    assert "helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules" in testbin


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
    # one VERSION for the label and the package: declared before the first FROM (the build
    # context has no .git for setuptools-scm), handed to the builder's pip as the version
    assert global_args()["VERSION"] == "0.0.0"
    assert ("ARG", "VERSION") in instructions
    builder = next(stage for stage in stages() if ("ARG", "VERSION") in stage)
    assert any("SETUPTOOLS_SCM_PRETEND_VERSION=${VERSION}" in a for w, a in builder if w == "ENV")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" in project["dynamic"]
    assert wheel.name.startswith("breakglass-") and "-py3-none-any" in wheel.name
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
