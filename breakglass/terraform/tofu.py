"""Running ``tofu`` (or ``terraform``) for a scan: init, a plan read back as JSON, the schemas.

The binary gets a small environment of its own: ``PATH``, ``HOME``, automation switches, the
shared plugin cache, the workspace, and only the variables a root names in ``env`` (its
credentials), never the rest of breakglass's environment (forge tokens, the journal password).

A plan is written to a private temporary directory (mode 0700), read back with ``show -json``
into memory and deleted at once: the plan file and its JSON hold every value of the state,
sensitive ones included, and breakglass never stores either.  Plans take no state lock
(``-lock=false``): a scan only reads, and must never hold up someone's apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from breakglass import logs

log = logs.get(__name__)

#: what a failed command shows of its error output (the end is where the reason is)
_TAIL = 3000


class TofuError(RuntimeError):
    """A command failed; the message says which, in which directory, and its error output."""


@dataclass
class Tofu:
    """One root module's directory and how to run the binary there."""

    binary: str
    directory: Path
    env: Mapping[str, str]
    timeout: float = 900.0
    var_files: Sequence[str] = ()
    backend_config: Sequence[tuple[str, str]] = ()
    ran: list[str] = field(default_factory=list)

    @classmethod
    def environment(
        cls,
        *,
        names: Sequence[str],
        workspace: str,
        plugin_cache: Path | None,
        data_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The binary's environment: the basics and the variables ``names`` lists."""
        source = os.environ if environ is None else environ
        env = {
            "PATH": source.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": source.get("HOME", "/tmp"),  # noqa: S108  (providers read ~ for config)
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
        if workspace != "default":
            env["TF_WORKSPACE"] = workspace
        if plugin_cache is not None:
            env["TF_PLUGIN_CACHE_DIR"] = str(plugin_cache)
        if data_dir is not None:
            env["TF_DATA_DIR"] = str(data_dir)
        for name in names:
            if name in source:
                env[name] = source[name]
        return env

    async def _run(self, *args: str, what: str) -> bytes:
        argv = [self.binary, *args]
        self.ran.append(" ".join([Path(self.binary).name, *args[:1]]))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.directory,
                env=dict(self.env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise TofuError(
                f"cannot run {self.binary!r}: not found (set terraform.roots[].binary to the "
                "path of tofu or terraform, or put it on PATH)"
            ) from exc
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise TofuError(
                f"{what} in {self.directory.name} took longer than {self.timeout:.0f} s "
                "(terraform.timeout_seconds) and was stopped"
            ) from None
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip()[-_TAIL:]
            raise TofuError(f"{what} failed (exit {proc.returncode}):\n{tail}")
        return out

    async def init(self) -> None:
        args = ["init", "-input=false", "-no-color"]
        args += [f"-backend-config={key}={value}" for key, value in self.backend_config]
        await self._run(*args, what=f"{Path(self.binary).name} init")

    async def plan(self, *, refresh_only: bool) -> dict[str, Any]:
        """The plan as ``show -json`` gives it, read into memory; no file of it is left."""
        private = Path(tempfile.mkdtemp(prefix="bg-plan-"))  # mode 0700
        try:
            out = private / "plan"
            args = ["plan", "-input=false", "-no-color", "-lock=false", f"-out={out}"]
            if refresh_only:
                args.append("-refresh-only")
            args += [f"-var-file={name}" for name in self.var_files]
            name = Path(self.binary).name
            what = f"{name} plan{' -refresh-only' if refresh_only else ''}"
            await self._run(*args, what=what)
            shown = await self._run("show", "-json", "-no-color", str(out), what=f"{name} show")
            return orjson.loads(shown)  # type: ignore[no-any-return]
        finally:
            shutil.rmtree(private, ignore_errors=True)

    async def fmt(self, text: str) -> str | None:
        """``text`` as the binary's ``fmt`` writes it (``None`` when it cannot: a syntax it
        does not know, or no ``fmt``)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self.binary,
                "fmt",
                "-no-color",
                "-",
                cwd=self.directory,
                env=dict(self.env),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError:
            return None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(text.encode("utf-8")), 60)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            return None
        return out.decode("utf-8") if proc.returncode == 0 else None

    async def schemas(self) -> dict[str, Any]:
        out = await self._run(
            "providers", "schema", "-json", what=f"{Path(self.binary).name} providers schema"
        )
        return orjson.loads(out)  # type: ignore[no-any-return]


def managed_in_state(plan: Mapping[str, Any]) -> int:
    """How many managed resources the plan's prior state holds (all modules)."""

    def count(module: Mapping[str, Any]) -> int:
        own = sum(1 for r in module.get("resources") or () if r.get("mode") == "managed")
        return own + sum(count(child) for child in module.get("child_modules") or ())

    return count(((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {})


def managed_in_code(configuration: Mapping[str, Any]) -> int:
    """How many managed resource blocks the configuration declares (all modules)."""

    def count(module: Mapping[str, Any]) -> int:
        own = sum(1 for r in module.get("resources") or () if r.get("mode") == "managed")
        calls = (module.get("module_calls") or {}).values()
        return own + sum(count(call.get("module") or {}) for call in calls)

    return count(configuration.get("root_module") or {})


def actions(plan: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Every resource instance of a (normal) plan and its actions (``("no-op",)`` when the
    code says what the world is)."""
    return {
        str(entry.get("address")): tuple(
            str(a) for a in (entry.get("change") or {}).get("actions") or ()
        )
        for entry in plan.get("resource_changes") or ()
    }
