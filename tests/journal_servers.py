"""A real PostgreSQL server for the journal tests and the journal benchmark.

The server binaries (``initdb``, ``pg_ctl``, ``postgres``) come from ``PATH``, else from Debian's
``/usr/lib/postgresql/<version>/bin`` (the newest), which is where the ``postgresql`` package puts
them without linking them onto ``PATH``.  ``.ci/run`` installs that package when ``initdb`` is
missing.

PostgreSQL refuses to run as root.  Run as root, the cluster directory is handed to an
unprivileged user and every server command runs as that user through ``runuser`` (``su`` where
``runuser`` is missing): ``postgres`` (the Debian package creates it), else ``nobody``.

Each server gets its own directory under the system temporary directory (where that user can
reach it; pytest's own temporary directories are private to the user running the tests), a free
loopback port, its Unix socket in that directory (``-k``), ``fsync=on``, password
(SCRAM) authentication over TCP, and a superuser ``breakglass`` whose password is random.

No pytest here: ``bench/`` uses this module too.  The skip-or-fail policy is in
``tests/journal/conftest.py``.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from breakglass.demo.cluster import free_port

BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl, postgres) were not found on PATH or under "
    "/usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: apt-get install postgresql; "
    ".ci/run does this) to run the PostgreSQL journal tests"
)
#: Unprivileged users a server may run as when the tests run as root, in order of preference.
SERVER_USERS = ("postgres", "nobody")
SUPERUSER = "breakglass"


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or ``None``."""
    on_path = [shutil.which(name) for name in BINARIES]
    if all(on_path):
        dirs = {Path(p).resolve().parent for p in on_path if p}
        if len(dirs) == 1:
            return dirs.pop()
        # Symlinks from different places: use the real directory of initdb if it has them all.
        first = Path(on_path[0] or "").resolve().parent
        if all((first / name).is_file() for name in BINARIES):
            return first

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.name)) or (0,)

    if DEBIAN_ROOT.is_dir():
        for candidate in sorted(DEBIAN_ROOT.iterdir(), key=version, reverse=True):
            bindir = candidate / "bin"
            if all((bindir / name).is_file() for name in BINARIES):
                return bindir
    return None


def server_user() -> str | None:
    """Whom the server runs as: ``None`` (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError(
        f"running as root, and none of the users {', '.join(SERVER_USERS)} exists to run "
        "PostgreSQL as (it refuses to run as root)"
    )


class PostgresServer:
    """One throw-away PostgreSQL cluster: ``initdb`` on construction, then start/stop/crash."""

    def __init__(self, bindir: Path, *, user: str | None = None) -> None:
        self.bindir = bindir
        self.user = user
        self.password = secrets.token_urlsafe(16)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="breakglass-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        pwfile = self.root / "password"
        pwfile.write_text(self.password + "\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (self.root, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        try:
            self._initdb(pwfile)
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _initdb(self, pwfile: Path) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",  # only initdb's own files; the server runs with fsync=on
        )
        pwfile.unlink()

    def _command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bindir / program), *args]
        if self.user is None:
            return argv
        if shutil.which("runuser"):
            return ["runuser", "-u", self.user, "--", *argv]
        return ["su", "-s", "/bin/sh", self.user, "-c", shlex.join(argv)]

    def _run(self, program: str, *args: str) -> None:
        proc = subprocess.run(
            self._command(program, *args),
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            timeout=120,
        )
        if proc.returncode != 0:
            tail = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{program} {' '.join(args[:2])} failed (exit {proc.returncode}):\n"
                f"{proc.stdout}{proc.stderr}{tail}"
            )

    def start(self) -> None:
        options = f"-k {self.root} -h 127.0.0.1 -p {self.port} -c fsync=on"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast`` shuts down cleanly; ``immediate`` is a crash (recovery from WAL on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        proc = subprocess.run(
            self._command("pg_ctl", "-D", str(self.data), "status"),
            capture_output=True,
            check=False,
            cwd=self.root,
        )
        return proc.returncode == 0

    def url(self, database: str = "postgres") -> str:
        """A URL without the password (pass ``self.password`` separately)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE …)."""
        import psycopg

        with psycopg.connect(self.url(), password=self.password, autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres_server(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """A started server, stopped and deleted afterwards; ``RuntimeError`` without binaries."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise RuntimeError(INSTALL_HINT)
    server = PostgresServer(bindir, user=server_user())
    try:
        server.start()
        yield server
    finally:
        server.remove()
