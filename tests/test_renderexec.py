"""Running kustomize and helm for the render check: real renders, failures, the child's world.

The renders use the real binaries (``tests/rendertools.py``); what the child process sees (its
environment, its HOME, its arguments, its time limit) is checked with small shell scripts
standing in for the tools, since neither tool can print its environment.
"""

from __future__ import annotations

import json
import re
import stat
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from breakglass import cli, renderexec, settings
from breakglass.errors import PermanentError
from breakglass.renderexec import RenderError, RenderToolMissing
from tests.rendertools import render_tools


@pytest.fixture(scope="session")
def kustomize_bin() -> str:
    return str(render_tools()[0])


@pytest.fixture(scope="session")
def helm_bin() -> str:
    return str(render_tools()[1])


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def documents(stream: str) -> dict[tuple[str, str], dict]:
    """The YAML stream as {(kind, name): object}."""
    out = {}
    for doc in yaml.safe_load_all(stream):
        if doc:
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def fake_tool(path: Path, script: str) -> str:
    """An executable shell script standing in for kustomize or helm."""
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# -- kustomize ---------------------------------------------------------------------------------

BASE = {
    "base/kustomization.yaml": """\
        resources: [deployment.yaml]
        configMapGenerator:
          - name: web-settings
            literals: [LOG_LEVEL=info]
        """,
    "base/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - name: web
                  image: example.com/web:1.0
                  envFrom: [{configMapRef: {name: web-settings}}]
                  resources: {limits: {memory: 128Mi}}
        """,
}

OVERLAY = {
    "apps/web/overlays/prod/kustomization.yaml": """\
        namespace: prod
        resources: [../../../../base]
        images:
          - name: example.com/web
            newTag: "2.4"
        replicas:
          - name: web
            count: 3
        patches:
          - path: memory.yaml
          - target: {kind: Deployment, name: web}
            patch: |-
              - op: add
                path: /metadata/annotations
                value: {team: payments}
        """,
    "apps/web/overlays/prod/memory.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            spec:
              containers:
                - name: web
                  resources: {limits: {memory: 512Mi}}
        """,
}


def test_kustomize_build_renders_an_overlay_over_its_base(tmp_path, kustomize_bin):
    root = write_tree(tmp_path / "repo", {**BASE, **OVERLAY})

    out = renderexec.kustomize_build(kustomize_bin, root, "apps/web/overlays/prod")

    objects = documents(out)
    config_maps = [name for kind, name in objects if kind == "ConfigMap"]
    assert len(config_maps) == 1
    generated = config_maps[0]
    # the generator's content hash is kustomize's, and the reference to it follows the name
    assert generated.startswith("web-settings-") and generated != "web-settings"
    web = objects[("Deployment", "web")]
    assert web["metadata"]["namespace"] == "prod"
    assert web["metadata"]["annotations"] == {"team": "payments"}
    assert web["spec"]["replicas"] == 3
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "example.com/web:2.4"
    assert container["resources"] == {"limits": {"memory": "512Mi"}}
    assert container["envFrom"] == [{"configMapRef": {"name": generated}}]
    assert objects[("ConfigMap", generated)]["data"] == {"LOG_LEVEL": "info"}


def test_kustomize_build_of_the_repository_root(tmp_path, kustomize_bin):
    root = write_tree(tmp_path / "repo", {"kustomization.yaml": "resources: [base]\n", **BASE})
    for directory in ("", "."):
        objects = documents(renderexec.kustomize_build(kustomize_bin, root, directory))
        assert objects[("Deployment", "web")]["spec"]["replicas"] == 1


def test_files_outside_the_kustomization_root_need_the_load_restrictor_off(tmp_path, kustomize_bin):
    # Argo CD's default (kustomize's): refused. Flux builds with LoadRestrictionsNone.
    root = write_tree(
        tmp_path / "repo",
        {
            "shared/settings.env": "REGION=eu-west-1\n",
            "apps/web/kustomization.yaml": """\
                configMapGenerator:
                  - name: region
                    envs: [../../shared/settings.env]
                """,
        },
    )
    with pytest.raises(RenderError) as caught:
        renderexec.kustomize_build(kustomize_bin, root, "apps/web")
    message = str(caught.value)
    assert message.startswith("kustomize build apps/web failed (exit 1):")
    assert "'shared/settings.env' is not in or below 'apps/web'" in message
    assert str(root) not in message  # paths are repository-relative

    out = renderexec.kustomize_build(
        kustomize_bin, root, "apps/web", load_restrictor="LoadRestrictionsNone"
    )
    ((kind, _name),) = documents(out)
    assert kind == "ConfigMap"
    assert "REGION: eu-west-1" in out


def test_a_broken_kustomization_names_the_directory_and_the_problem(tmp_path, kustomize_bin):
    root = write_tree(
        tmp_path / "repo",
        {**BASE, "overlays/broken/kustomization.yaml": "resources: [../../base, missing.yaml]\n"},
    )
    with pytest.raises(RenderError) as caught:
        renderexec.kustomize_build(kustomize_bin, root, "overlays/broken/")
    error = caught.value
    assert isinstance(error, PermanentError)  # the same commit fails the same way: a human
    assert not isinstance(error, RenderToolMissing)
    first, *stderr = str(error).splitlines()
    assert first == "kustomize build overlays/broken failed (exit 1):"
    assert 1 <= len(stderr) <= renderexec.STDERR_LINES
    assert all(line.startswith("  ") for line in stderr)
    assert "missing.yaml" in str(error)
    assert str(root) not in str(error)


def test_a_directory_that_is_not_there_or_leaves_the_repository(tmp_path, kustomize_bin):
    root = write_tree(tmp_path / "repo", BASE)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(RenderError, match=r"kustomize build apps/gone: no such directory"):
        renderexec.kustomize_build(kustomize_bin, root, "apps/gone")
    for outside in ("../elsewhere", str(tmp_path / "elsewhere"), "base/../../elsewhere"):
        with pytest.raises(RenderError, match="is outside the repository"):
            renderexec.kustomize_build(kustomize_bin, root, outside)
    (root / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RenderError, match="link is outside the repository"):
        renderexec.kustomize_build(kustomize_bin, root, "link")


# -- helm --------------------------------------------------------------------------------------

CHART = {
    "charts/web/Chart.yaml": """\
        apiVersion: v2
        name: web
        version: 0.3.0
        """,
    "charts/web/values.yaml": """\
        replicas: 1
        image: {repository: example.com/web, tag: "1.0"}
        monitoring: false
        """,
    "charts/web/values-prod.yaml": """\
        replicas: 4
        image: {tag: "2.0"}
        """,
    "charts/web/templates/deployment.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}-web
          namespace: {{ .Release.Namespace }}
          annotations:
            kube-minor: {{ .Capabilities.KubeVersion.Minor | quote }}
            has-monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
        spec:
          replicas: {{ .Values.replicas }}
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
                - name: web
                  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        """,
    "charts/web/templates/servicemonitor.yaml": """\
        {{- if .Values.monitoring }}
        apiVersion: monitoring.coreos.com/v1
        kind: ServiceMonitor
        metadata: {name: {{ .Release.Name }}-web}
        spec: {selector: {matchLabels: {app: web}}}
        {{- end }}
        """,
    "charts/web/crds/widgets.yaml": """\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.com}
        spec:
          group: example.com
          names: {kind: Widget, plural: widgets}
          scope: Namespaced
          versions:
            - name: v1
              served: true
              storage: true
              schema: {openAPIV3Schema: {type: object}}
        """,
}


def test_helm_template_applies_values_files_then_inline_values(tmp_path, helm_bin):
    root = write_tree(tmp_path / "repo", CHART)

    out = renderexec.helm_template(
        helm_bin,
        root,
        "charts/web",
        release="checkout",
        namespace="payments",
        values_files=["charts/web/values-prod.yaml"],
        values={"image": {"tag": "2.1"}, "monitoring": True},
    )

    objects = documents(out)
    web = objects[("Deployment", "checkout-web")]
    assert web["metadata"]["namespace"] == "payments"
    assert web["spec"]["replicas"] == 4  # the values file over the chart's values.yaml
    image = web["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "example.com/web:2.1"  # inline values over the values file
    assert ("ServiceMonitor", "checkout-web") in objects
    # CRDs from crds/ are part of what Argo CD and Flux apply
    assert ("CustomResourceDefinition", "widgets.example.com") in objects
    # helm was built with its Makefile's ldflags: the Kubernetes minor of its client-go
    assert web["metadata"]["annotations"]["kube-minor"] == "36"
    assert web["metadata"]["annotations"]["has-monitoring"] == "false"


def test_helm_template_takes_the_cluster_version_and_api_versions(tmp_path, helm_bin):
    root = write_tree(tmp_path / "repo", CHART)
    out = renderexec.helm_template(
        helm_bin,
        root,
        "charts/web",
        release="checkout",
        namespace="payments",
        kube_version="v1.33.4",
        api_versions=["monitoring.coreos.com/v1"],
    )
    annotations = documents(out)[("Deployment", "checkout-web")]["metadata"]["annotations"]
    assert annotations == {"kube-minor": "33", "has-monitoring": "true"}
    assert documents(out)[("Deployment", "checkout-web")]["spec"]["replicas"] == 1


def test_a_broken_chart_names_the_chart_and_the_template(tmp_path, helm_bin):
    root = write_tree(
        tmp_path / "repo",
        {**CHART, "charts/web/templates/broken.yaml": "metadata: {{ .Values.nope.deeper }}\n"},
    )
    with pytest.raises(RenderError) as caught:
        renderexec.helm_template(
            helm_bin,
            root,
            "charts/web",
            release="checkout",
            namespace="payments",
            values_files=["charts/web/values-prod.yaml"],
            values={"replicas": 2},
        )
    first, *stderr = str(caught.value).splitlines()
    assert first == (
        "helm template checkout charts/web --namespace payments "
        "-f charts/web/values-prod.yaml -f <inline values> failed (exit 1):"
    )
    assert "templates/broken.yaml" in "\n".join(stderr)
    assert str(root) not in str(caught.value)


def test_helm_refuses_what_is_not_a_chart_in_the_repository(tmp_path, helm_bin):
    root = write_tree(tmp_path / "repo", CHART)
    with pytest.raises(
        RenderError, match=re.escape("helm template charts/none: no Chart.yaml there")
    ):
        renderexec.helm_template(helm_bin, root, "charts/none", release="a", namespace="b")
    with pytest.raises(
        RenderError, match=re.escape("values file charts/web/nope.yaml is not in the")
    ):
        renderexec.helm_template(
            helm_bin,
            root,
            "charts/web",
            release="a",
            namespace="b",
            values_files=["charts/web/nope.yaml"],
        )
    (tmp_path / "secrets.yaml").write_text("password: x\n")
    with pytest.raises(
        RenderError, match=re.escape("values file ../secrets.yaml is outside the repository")
    ):
        renderexec.helm_template(
            helm_bin,
            root,
            "charts/web",
            release="a",
            namespace="b",
            values_files=["../secrets.yaml"],
        )


# -- finding the binaries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("render", "name", "env_var", "setting"),
    [
        (
            lambda: renderexec.kustomize_build(None, Path("."), "."),
            "kustomize",
            "BREAKGLASS_KUSTOMIZE",
            "backfill.kustomize_binary",
        ),
        (
            lambda: renderexec.helm_template(None, Path("."), ".", release="a", namespace="b"),
            "helm",
            "BREAKGLASS_HELM",
            "backfill.helm_binary",
        ),
    ],
)
def test_a_missing_binary_says_how_to_install_it_or_name_it(
    tmp_path, monkeypatch, render, name, env_var, setting
):
    monkeypatch.delenv(env_var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    with pytest.raises(RenderToolMissing) as caught:
        render()
    assert str(caught.value) == f"the {name} binary was not found on PATH"
    hint = caught.value.hint or ""
    assert f"install {name}" in hint and f"/usr/local/bin/{name}" in hint
    assert setting in hint and f"${env_var}" in hint
    assert isinstance(caught.value, RenderError)

    # a configured binary that does not work is never replaced by one from PATH
    monkeypatch.setenv(env_var, str(tmp_path / f"no-{name}"))
    with pytest.raises(RenderToolMissing, match=rf"named by \${env_var} \(.*no-{name}\) is not"):
        render()


def test_find_binary_order_explicit_then_environment_then_path(tmp_path, monkeypatch):
    on_path = fake_tool(tmp_path / "kustomize", "exit 0\n")
    other = fake_tool(tmp_path / "kustomize-5.8", "exit 0\n")
    (tmp_path / "not-executable").write_text("")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BREAKGLASS_KUSTOMIZE", raising=False)
    assert renderexec.find_kustomize() == on_path
    monkeypatch.setenv("BREAKGLASS_KUSTOMIZE", other)
    assert renderexec.find_kustomize() == other
    assert renderexec.find_kustomize(on_path) == on_path
    assert renderexec.find_kustomize("kustomize-5.8") == other  # a bare name: looked up on PATH
    assert renderexec.find_kustomize(str(tmp_path / "not-executable")) is None
    assert renderexec.find_binary(None, "BREAKGLASS_NOTHING", "helm") is None


# -- what the child sees -----------------------------------------------------------------------


def test_the_child_environment_is_path_and_home_only(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("HELM_REPOSITORY_CONFIG", "/etc/helm/repositories.yaml")
    monkeypatch.setenv("KUBECONFIG", "/etc/kubeconfig")
    monkeypatch.setenv("PATH", "/opt/tools:/usr/bin")
    assert renderexec.child_environment(tmp_path) == {
        "PATH": "/opt/tools:/usr/bin",
        "HOME": str(tmp_path),
    }
    assert renderexec.child_environment(tmp_path, {"GITLAB_TOKEN": "x"}) == {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }


def test_the_child_runs_in_the_checkout_with_a_fresh_empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("HOME", str(tmp_path))  # the real one must not be the child's
    root = write_tree(tmp_path / "repo", {"app/kustomization.yaml": "resources: []\n"})
    tool = fake_tool(
        tmp_path / "kustomize",
        """\
        echo "args=$*"
        echo "cwd=$(pwd -P)"
        echo "home=$HOME"
        echo "home-entries=$(ls -A "$HOME" | wc -l)"
        env | sort | sed 's/^/env:/'
        """,
    )
    out = renderexec.kustomize_build(tool, root, "app")
    lines = out.splitlines()
    assert f"args=build {(root / 'app').resolve()}" in lines
    assert f"cwd={root.resolve()}" in lines
    home = next(line.removeprefix("home=") for line in lines if line.startswith("home="))
    assert home != str(tmp_path) and Path(home).name.startswith("breakglass-render-")
    assert "home-entries=0" in lines
    assert not Path(home).exists()  # removed after the call
    assert sorted(line.split("=")[0] for line in lines if line.startswith("env:")) == [
        "env:HOME",
        "env:PATH",
        "env:PWD",  # set by the shell itself
    ]
    assert "ghp_secret" not in out


def test_helm_arguments_and_the_inline_values_file(tmp_path):
    root = write_tree(tmp_path / "repo", {"c/Chart.yaml": "name: c\n", "c/v.yaml": "a: 1\n"})
    tool = fake_tool(
        tmp_path / "helm",
        """\
        for arg in "$@"; do
          echo "arg=$arg"
          case "$arg" in
            --values="$HOME"/*) file="${arg#--values=}"
              echo "inline=$(cat "$file")"
              echo "mode=$(stat -c %a "$file")";;
          esac
        done
        """,
    )
    out = renderexec.helm_template(
        tool,
        root,
        "c",
        release="-release",
        namespace="team-a",
        values_files=["c/v.yaml"],
        values={"password": "p@ss", "replicas": 2},
        kube_version="v1.34.0",
        api_versions=["a/v1", "b/v2"],
    )
    args = [line.removeprefix("arg=") for line in out.splitlines() if line.startswith("arg=")]
    assert args[0:4] == [
        "template",
        "--namespace=team-a",
        "--include-crds",
        f"--values={(root / 'c/v.yaml').resolve()}",
    ]
    assert args[5:] == [
        "--kube-version=v1.34.0",
        "--api-versions=a/v1",
        "--api-versions=b/v2",
        "--",
        "-release",  # after "--": a release name from the cluster is never taken for a flag
        str((root / "c").resolve()),
    ]
    assert args[4].startswith("--values=") and args[4].endswith("/inline-values.json")
    # the inline values are a private file in the child's own HOME, gone after the call
    inline_lines = [line for line in out.splitlines() if line.startswith("inline=")]
    assert len(inline_lines) == 1
    assert json.loads(inline_lines[0].removeprefix("inline=")) == {
        "password": "p@ss",
        "replicas": 2,
    }
    assert "mode=600" in out.splitlines()
    assert not Path(args[4].removeprefix("--values=")).exists()


def test_stderr_is_cut_to_its_first_lines_and_stdout_never_shows(tmp_path):
    root = write_tree(tmp_path / "repo", {"app/kustomization.yaml": ""})
    tool = fake_tool(
        tmp_path / "kustomize",
        f"""\
        echo "apiVersion: v1\\nkind: Secret\\nstringData: {{password: hunter2}}"
        i=1
        while [ $i -le 50 ]; do echo "problem $i in {root.resolve()}/app/file.yaml" >&2; i=$((i+1)); done
        printf '%0400d\\n' 7 >&2
        exit 3
        """,
    )
    with pytest.raises(RenderError) as caught:
        renderexec.kustomize_build(tool, root, "app")
    lines = str(caught.value).splitlines()
    assert lines[0] == "kustomize build app failed (exit 3):"
    assert lines[1:21] == [f"  problem {i} in app/file.yaml" for i in range(1, 21)]
    assert lines[21:] == ["  … 31 more line(s)"]
    assert "hunter2" not in str(caught.value)


def test_a_long_stderr_line_is_trimmed(tmp_path):
    root = write_tree(tmp_path / "repo", {"app/kustomization.yaml": ""})
    tool = fake_tool(tmp_path / "kustomize", "printf 'x%.0s' $(seq 1000) >&2; exit 1\n")
    with pytest.raises(RenderError) as caught:
        renderexec.kustomize_build(tool, root, "app")
    detail = str(caught.value).splitlines()[1]
    assert detail == "  " + "x" * (renderexec.STDERR_LINE_CHARS - 1) + "…"


def test_a_render_that_hangs_is_killed_with_everything_it_started(tmp_path):
    root = write_tree(tmp_path / "repo", {"app/kustomization.yaml": ""})
    pid_file = tmp_path / "grandchild.pid"
    # the background sleep stands for a `git fetch` of a remote base holding the output pipe
    tool = fake_tool(tmp_path / "kustomize", f"sleep 60 &\necho $! > {pid_file}\nsleep 60\n")
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"^kustomize build app did not finish within 1s$") as e:
        renderexec.kustomize_build(tool, root, "app", timeout=1)
    assert time.monotonic() - started < 10
    assert "network" in (e.value.hint or "")
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(grandchild):
        time.sleep(0.05)
    assert not _running(grandchild)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_a_binary_that_cannot_be_executed(tmp_path):
    root = write_tree(tmp_path / "repo", {"app/kustomization.yaml": ""})
    broken = tmp_path / "kustomize"
    broken.write_bytes(b"\x7fELF not really")
    broken.chmod(0o755)
    with pytest.raises(RenderToolMissing, match="could not be run: Exec format error"):
        renderexec.kustomize_build(str(broken), root, "app")


# -- settings and `config check` ---------------------------------------------------------------


def test_settings_take_both_binaries(tmp_path):
    path = tmp_path / "breakglass.yaml"
    path.write_text("backfill:\n  kustomize_binary: /opt/kustomize\n  helm_binary: /opt/helm\n")
    loaded = settings.load(path)
    assert loaded.backfill.kustomize_binary == "/opt/kustomize"
    assert loaded.backfill.helm_binary == "/opt/helm"
    assert settings.Settings().backfill.kustomize_binary is None
    path.write_text("backfill:\n  kustomize_binary: 5\n  helm_binary: ''\n")
    with pytest.raises(settings.ConfigError) as caught:
        settings.load(path)
    problems = {p.path: p.allowed for p in caught.value.problems}
    assert problems == {
        "backfill.kustomize_binary": "a path to the kustomize binary",
        "backfill.helm_binary": "a path to the helm binary",
    }


def test_config_check_notes_render_binaries_that_cannot_run(tmp_path, capsys):
    path = tmp_path / "breakglass.yaml"
    path.write_text(
        f"backfill:\n  kustomize_binary: {tmp_path / 'no-kustomize'}\n"
        f"  helm_binary: {tmp_path / 'no-helm'}\n"
    )
    assert cli.main(["config", "check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "ok"
    notes = [line for line in err.splitlines() if "_binary" in line]
    assert len(notes) == 2
    assert f"backfill.kustomize_binary {tmp_path / 'no-kustomize'} is not an executable" in notes[0]
    assert "kustomize applications" in notes[0]
    assert f"backfill.helm_binary {tmp_path / 'no-helm'} is not an executable" in notes[1]
    assert "Helm charts" in notes[1]

    working = fake_tool(tmp_path / "kustomize", "exit 0\n")
    path.write_text(f"backfill:\n  kustomize_binary: {working}\n")
    assert cli.main(["config", "check", str(path)]) == 0
    assert "_binary" not in capsys.readouterr().err


def test_the_environment_variables_are_the_documented_ones():
    assert renderexec.KUSTOMIZE_ENV == "BREAKGLASS_KUSTOMIZE"
    assert renderexec.HELM_ENV == "BREAKGLASS_HELM"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert (
        "| `backfill.kustomize_binary` | `$BREAKGLASS_KUSTOMIZE`, else `kustomize` on PATH"
        in readme
    )
    assert "| `backfill.helm_binary` | `$BREAKGLASS_HELM`, else `helm` on PATH" in readme
