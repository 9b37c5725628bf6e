"""Running ``kustomize build`` and ``helm template``: the edge behind the render check.

Before a backfill pull request is opened, the worker checks that what the branch deploys holds
the engineer's change.  What Argo CD and Flux deploy is what kustomize and helm render, with
their own semantics (strategic-merge patches, generator name hashes, Go templates with sprig),
and no imitation proves a render right, so breakglass runs the real binaries, as ``sopsexec``
runs sops.  This module only runs them; deciding what the render has to contain is pure code
elsewhere.

How the child runs:

- argv only, no shell; ``cwd`` is the repository checkout (``root``); stdin is empty, and the
  child starts a session of its own, so it has no terminal to prompt on and everything it
  started is killed with it when the time limit (``TIMEOUT_SECONDS``) runs out;
- its environment is ``PATH`` and ``HOME`` (``child_environment``): ``HOME`` is a fresh, empty
  temporary directory removed after the call, so no kustomize plugin, Helm repository, registry
  login or Helm plugin of the host takes part, and no forge token, ``KUBECONFIG``, ``HELM_*`` or
  other variable of breakglass's own environment reaches it;
- nothing needs the network: a remote kustomize base or a chart dependency missing from
  ``charts/`` fails (or runs into the time limit), and such a render is one breakglass cannot
  check;
- the directories and values files it is given must lie inside ``root``.

Both functions block until the child ends (at most the time limit); async callers run them in a
thread.

**Secret safety**: a render can hold Secret manifests in the clear (a kustomize
``secretGenerator``, a chart's Secret template fed from values).  The rendered YAML is returned
to the caller and never logged or put into an error message; callers must not log it either.
Error messages carry the first lines of the tool's stderr (``STDERR_LINES``), with paths made
repository-relative; kustomize and helm report file names and YAML positions there, but a
chart's own ``fail`` message is whatever the chart author wrote.

**Load restrictor**: kustomize refuses, by default (``LoadRestrictionsRootOnly``), files outside
the directory of the kustomization that names them, except other kustomizations.  Argo CD runs
``kustomize build <path>`` with only the options of ``kustomize.buildOptions`` in ``argocd-cm``,
none by default, so it has the same default.  Flux's kustomize-controller builds with
``LoadRestrictionsNone`` in-process, on a file system confined to the source artifact.  The
restrictor only refuses loads and never changes what a successful build renders, so
``kustomize_build`` keeps kustomize's default and takes ``load_restrictor="LoadRestrictionsNone"``
for Flux Kustomizations.  The CLI cannot confine reads to the repository the way Flux does:
with ``LoadRestrictionsNone`` a kustomization can read any file the breakglass user can read
(its state directory, a mounted service account token) into the render.

A failure raises ``RenderError``, a ``PermanentError``: rendering the same commit again fails
the same way, so the capture needs a human.  A missing binary raises ``RenderToolMissing``
(also a ``RenderError``), whose hint says how to install it or which setting names it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from breakglass.errors import PermanentError

#: Environment variables naming the binaries (else ``kustomize`` / ``helm`` on PATH).
KUSTOMIZE_ENV: Final = "BREAKGLASS_KUSTOMIZE"
HELM_ENV: Final = "BREAKGLASS_HELM"
#: Longest a render may take; a remote base that cannot be fetched ends here.
TIMEOUT_SECONDS: Final = 60.0
#: How much of the tool's stderr goes into a failure message.
STDERR_LINES: Final = 20
STDERR_LINE_CHARS: Final = 300

LoadRestrictor = Literal["LoadRestrictionsRootOnly", "LoadRestrictionsNone"]
"""kustomize's ``--load-restrictor`` values (see the module docstring)."""


class RenderError(PermanentError):
    """A render failed; the message names the command, the directory and the tool's stderr.

    Never carries rendered output, so it is safe to record and to show in an issue.
    """


class RenderToolMissing(RenderError):
    """The kustomize or helm binary was not found or cannot be run; the hint says what to do."""


@dataclass(frozen=True)
class _Tool:
    name: str
    env_var: str
    setting: str
    install: str


_KUSTOMIZE: Final = _Tool(
    "kustomize",
    KUSTOMIZE_ENV,
    "backfill.kustomize_binary",
    "install kustomize v5 (the breakglass image ships it as /usr/local/bin/kustomize; "
    "`go install sigs.k8s.io/kustomize/kustomize/v5@latest` builds it)",
)
_HELM: Final = _Tool(
    "helm",
    HELM_ENV,
    "backfill.helm_binary",
    "install helm v3 (the breakglass image ships it as /usr/local/bin/helm; "
    "`go install helm.sh/helm/v3/cmd/helm@latest` builds it)",
)


def find_binary(explicit: str | None, env_var: str, name: str) -> str | None:
    """The binary to run: ``explicit``, else ``$env_var``, else ``name`` on PATH; None if none.

    A chosen value with a slash is a path and must be an executable file; one without is looked
    up on PATH.  A chosen value that does not work gives None rather than falling back to PATH,
    so a configured binary is never silently replaced by another one.
    """
    chosen = explicit or os.environ.get(env_var)
    if not chosen:
        return shutil.which(name)
    if os.sep not in chosen:
        return shutil.which(chosen)
    return chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None


def find_kustomize(explicit: str | None = None) -> str | None:
    """kustomize: ``explicit``, else ``$BREAKGLASS_KUSTOMIZE``, else ``kustomize`` on PATH."""
    return find_binary(explicit, KUSTOMIZE_ENV, "kustomize")


def find_helm(explicit: str | None = None) -> str | None:
    """helm: ``explicit``, else ``$BREAKGLASS_HELM``, else ``helm`` on PATH."""
    return find_binary(explicit, HELM_ENV, "helm")


def child_environment(home: Path, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a render: ``PATH`` from ``parent`` (default: ours) and ``HOME``.

    Nothing else passes: no forge token, ``KUBECONFIG``, ``HELM_*``, ``KUSTOMIZE_*``, proxy or
    ``XDG_*`` variable, so the per-user directories of both tools fall under ``home``.
    """
    source = os.environ if parent is None else parent
    return {"PATH": source.get("PATH") or "/usr/bin:/bin", "HOME": str(home)}


def kustomize_build(
    binary: str | None,
    root: Path,
    directory: str,
    *,
    load_restrictor: LoadRestrictor = "LoadRestrictionsRootOnly",
    timeout: float = TIMEOUT_SECONDS,
) -> str:
    """``kustomize build <root>/<directory>``: the YAML stream it prints.

    ``binary`` is the configured one (``backfill.kustomize_binary``) or None for
    ``$BREAKGLASS_KUSTOMIZE``, else ``kustomize`` on PATH.  ``directory`` is relative to the
    checkout ``root`` ("" or "." for the root itself).  Plugins, exec functions and Helm chart
    inflation stay off, as in kustomize's own defaults.  Raises ``RenderError``.
    """
    executable = _resolve(_KUSTOMIZE, binary)
    base = root.resolve()
    target = _inside(base, directory, "kustomization directory")
    if not target.is_dir():
        raise RenderError(
            f"kustomize build {_shown(directory)}: no such directory in the repository",
            hint="check the path the Argo CD Application or Flux Kustomization points at",
        )
    argv = [executable, "build"]
    if load_restrictor != "LoadRestrictionsRootOnly":
        argv.append(f"--load-restrictor={load_restrictor}")
    argv.append(str(target))
    with _scratch_home() as home:
        return _run(argv, base, home, f"kustomize build {_shown(directory)}", timeout)


def helm_template(
    binary: str | None,
    root: Path,
    chart_dir: str,
    *,
    release: str,
    namespace: str,
    values_files: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    kube_version: str | None = None,
    api_versions: Sequence[str] = (),
    timeout: float = TIMEOUT_SECONDS,
) -> str:
    """``helm template <release> <chart> --namespace <namespace> -f ...``: the YAML stream.

    ``binary`` is the configured one (``backfill.helm_binary``) or None for ``$BREAKGLASS_HELM``,
    else ``helm`` on PATH.  ``chart_dir`` and every entry of ``values_files`` are relative to
    the checkout ``root``; the files apply in order, then ``values`` (inline values, as in an
    Argo CD Application's ``valuesObject`` or a HelmRelease's ``spec.values``), so later ones
    win.  ``kube_version`` and ``api_versions`` stand for the cluster's (``--kube-version``,
    ``--api-versions``); without them helm uses the Kubernetes version it was built against and
    only built-in API versions.  CRDs from the chart's ``crds/`` are included, as Argo CD and
    Flux both apply them.  Raises ``RenderError``.
    """
    executable = _resolve(_HELM, binary)
    base = root.resolve()
    chart = _inside(base, chart_dir, "chart directory")
    if not (chart / "Chart.yaml").is_file():
        raise RenderError(
            f"helm template {_shown(chart_dir)}: no Chart.yaml there in the repository",
            hint="check the chart path the Argo CD Application or HelmRelease points at",
        )
    files = []
    for name in values_files:
        path = _inside(base, name, "values file")
        if not path.is_file():
            raise RenderError(
                f"helm template {_shown(chart_dir)}: values file {name} is not in the repository"
            )
        files.append(path)
    shown = f"helm template {release} {_shown(chart_dir)} --namespace {namespace}"
    shown += "".join(f" -f {name}" for name in values_files)
    with _scratch_home() as home:
        flags = [f"--namespace={namespace}", "--include-crds"]
        flags += [f"--values={path}" for path in files]
        if values:
            inline = home / "inline-values.json"  # JSON is YAML; removed with home
            fd = os.open(inline, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(values, handle)
            flags.append(f"--values={inline}")
            shown += " -f <inline values>"
        if kube_version:
            flags.append(f"--kube-version={kube_version}")
        flags += [f"--api-versions={api}" for api in api_versions]
        # "--" ends the flags: a release name from the cluster is never read as one
        argv = [executable, "template", *flags, "--", release, str(chart)]
        return _run(argv, base, home, shown, timeout)


# -- internals ---------------------------------------------------------------------------------


def _resolve(tool: _Tool, explicit: str | None) -> str:
    found = find_binary(explicit, tool.env_var, tool.name)
    if found is not None:
        return found
    chosen = explicit or os.environ.get(tool.env_var)
    if chosen:
        where = "configured" if explicit else f"named by ${tool.env_var}"
        raise RenderToolMissing(
            f"the {tool.name} binary {where} ({chosen}) is not an executable file",
            hint=f"point {tool.setting} or ${tool.env_var} at an executable {tool.name}",
        )
    raise RenderToolMissing(
        f"the {tool.name} binary was not found on PATH",
        hint=f"{tool.install}, or point {tool.setting} or ${tool.env_var} at it",
    )


def _shown(relative: str) -> str:
    return relative.strip("/") or "."


def _inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, resolved; a RenderError if it leaves the repository."""
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(root):
        raise RenderError(f"the {what} {relative} is outside the repository")
    return path


@contextlib.contextmanager
def _scratch_home() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="breakglass-render-") as name:
        yield Path(name)


def _run(argv: list[str], root: Path, home: Path, shown: str, timeout: float) -> str:
    try:
        proc = subprocess.Popen(
            argv,
            cwd=root,
            env=child_environment(home),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise RenderToolMissing(
            f"{shown}: {argv[0]} could not be run: {exc.strerror or exc}",
            hint="check that it is an executable for this machine",
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise RenderError(
            f"{shown} did not finish within {timeout:g}s",
            hint="a remote kustomize base or chart dependency needs the network, which "
            "renders do not have; vendor it into the repository",
        ) from None
    except BaseException:  # cancelled: the child has a session of its own, so end it here
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        detail = _stderr_excerpt(err.decode("utf-8", "replace"), root, home)
        raise RenderError(f"{shown} failed (exit {proc.returncode}):\n{detail}")
    return out.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started (a ``git`` fetching a remote base)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _stderr_excerpt(stderr: str, root: Path, home: Path) -> str:
    """The first ``STDERR_LINES`` non-blank lines, each trimmed, paths made relative."""
    text = stderr.replace(f"{home}/inline-values.json", "<inline values>")
    text = text.replace(f"{root}{os.sep}", "").replace(str(root), ".")
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "  (no message)"
    shown = [
        line if len(line) <= STDERR_LINE_CHARS else line[: STDERR_LINE_CHARS - 1] + "…"
        for line in lines[:STDERR_LINES]
    ]
    if len(lines) > STDERR_LINES:
        shown.append(f"… {len(lines) - STDERR_LINES} more line(s)")
    return "\n".join(f"  {line}" for line in shown)
