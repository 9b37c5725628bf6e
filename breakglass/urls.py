"""Journal URLs: which back-end a URL names, what is wrong with a PostgreSQL one, and how to
show one without its password.

A leaf module (standard library only): the settings loader checks URLs with it without the
PostgreSQL driver installed, and without importing the journal package, which ``capture``
(through ``settings``) must not reach.  A PostgreSQL URL is libpq's connection URI
(``postgresql://`` or ``postgres://``):
``postgresql://USER@HOST[:PORT][,HOST2[:PORT2]…]/DATABASE[?PARAM=VALUE&…]``.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, unquote, urlsplit

SQLITE_PREFIX: Final = "sqlite:///"
POSTGRESQL_PREFIXES: Final = ("postgresql://", "postgres://")

#: libpq's connection parameters (PostgreSQL 17 documentation, "Parameter Key Words").
LIBPQ_PARAMETERS: Final = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "require_auth",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "replication",
        "gssencmode",
        "sslmode",
        "requiressl",
        "sslnegotiation",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcertmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "requirepeer",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
    }
)
#: Parameters whose values are secrets; they never belong in a settings file or a log line.
SECRET_PARAMETERS: Final = frozenset({"password", "sslpassword"})

_SECRET_QUERY: Final = re.compile(
    r"([?&](?:" + "|".join(sorted(SECRET_PARAMETERS)) + r")=)[^&#]*", re.IGNORECASE
)
_HOST: Final = re.compile(r"^[A-Za-z0-9._~%-]*$")
_PORT: Final = re.compile(r"^[0-9]{1,5}$")
NO_SECRETS: Final = (
    "no password in the URL: secrets never go in the file; set journal.password_env to the "
    "name of an environment variable that holds it (or use PGPASSWORD or a .pgpass file)"
)


def is_postgresql(url: str) -> bool:
    return url.startswith(POSTGRESQL_PREFIXES)


def redact_url(url: str) -> str:
    """``url`` fit for a log line or an error message: any password replaced by ``***``.

    The user part ends at the *last* ``@`` (an unescaped ``@`` in a password would otherwise
    leave its tail visible); when in doubt more is hidden, never less.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, hosts = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = userinfo.split(":", 1)[0] + ":***@" + hosts
    return scheme + sep + _SECRET_QUERY.sub(r"\1***", rest)


def postgresql_problems(url: str) -> list[str]:
    """What is wrong with a PostgreSQL journal URL in a settings file; empty if nothing is.

    Checked: the parts parse, ports are numbers in range, the database is named, every query
    parameter is one libpq knows, and no password is given (neither ``user:password@`` nor
    ``?password=``).
    """
    shape = "postgresql://USER@HOST[:PORT]/DATABASE[?PARAM=VALUE&…]"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return [f"{shape} ({exc})"]
    problems: list[str] = []
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        problems.append(NO_SECRETS)
    for host in hostlist.split(","):
        problem = _host_problem(host)
        if problem:
            problems.append(f"{shape}: {problem}")
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        problems.append(f"{shape}: the query is not PARAM=VALUE pairs joined by '&'")
        query = []
    names = {name for name, _ in query}
    for name in sorted(names):
        if name in SECRET_PARAMETERS:
            problems.append(NO_SECRETS)
        elif name not in LIBPQ_PARAMETERS:
            problems.append(f"{shape}: {name!r} is not a libpq connection parameter")
    database = unquote(parts.path[1:]) if parts.path.startswith("/") else parts.path
    if "/" in database:
        problems.append(f"{shape}: the database name is one path segment")
    elif not database and "dbname" not in names:
        problems.append(f"{shape}: name the database")
    if parts.fragment:
        problems.append(f"{shape}: no '#' fragment")
    return list(dict.fromkeys(problems))


def _host_problem(host: str) -> str | None:
    if host.startswith("["):  # an IPv6 literal, optionally with a port
        inner, bracket, port = host[1:].partition("]")
        if not bracket or not inner:
            return f"{host!r} is not a [IPv6] address"
        if port and not port.startswith(":"):
            return f"{host!r}: expected ':PORT' after the address"
        return _port_problem(port[1:]) if port else None
    name, colon, port = host.partition(":")
    if not _HOST.match(name):
        return f"{name!r} is not a host name or address"
    return _port_problem(port) if colon else None


def _port_problem(port: str) -> str | None:
    if not _PORT.match(port) or not 1 <= int(port) <= 65535:
        return f"port {port!r} is not a number from 1 to 65535"
    return None
