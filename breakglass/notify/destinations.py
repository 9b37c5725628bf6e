"""Destinations as the notifier uses them: each settings entry with its URL and key read from
the environment, or the reason it cannot be used.

Pure, given the environment (a mapping).  The worker builds its destinations with it and logs
each problem (a destination that cannot send is left out; the worker goes on), and
``breakglass config check`` prints the same problems, so both say the same thing.  Problems
name the key path and the variable, never the URL or the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from breakglass.settings import NOTIFICATION_EVENTS, NotificationSettings

#: the shortest signing key accepted (bytes)
MIN_SECRET: Final = 16


@dataclass(frozen=True)
class Destination:
    """One usable destination; ``url`` and ``secret`` are never shown (``repr`` leaves them)."""

    name: str
    kind: str
    url: str = field(repr=False)
    secret: bytes | None = field(default=None, repr=False)
    events: tuple[str, ...] = NOTIFICATION_EVENTS
    namespaces: tuple[str, ...] = ("*",)
    applications: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class Problem:
    """Why a destination cannot send: the key that asks for it, the variable, a sentence."""

    key: str
    variable: str
    text: str


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "does not hold an http(s) URL"
    return None


def usable(
    settings: NotificationSettings, environ: Mapping[str, str]
) -> tuple[list[Destination], list[Problem]]:
    """The destinations that can send, and a problem for each one that cannot."""
    found: list[Destination] = []
    problems: list[Problem] = []
    for number, entry in enumerate(settings.destinations):
        key = f"notifications.destinations[{number}]"
        url = environ.get(entry.url_env, "")
        bad: list[Problem] = []
        if not url:
            bad.append(
                Problem(
                    f"{key}.url_env",
                    entry.url_env,
                    f"environment variable {entry.url_env} is not set: destination "
                    f"{entry.name!r} ({entry.kind}) sends nothing until it holds the URL",
                )
            )
        elif (why := _url_problem(url)) is not None:
            bad.append(
                Problem(
                    f"{key}.url_env",
                    entry.url_env,
                    f"environment variable {entry.url_env} {why}: destination {entry.name!r} "
                    "sends nothing",
                )
            )
        secret: bytes | None = None
        if entry.secret_env is not None:
            secret = environ.get(entry.secret_env, "").encode("utf-8") or None
            if secret is None or len(secret) < MIN_SECRET:
                state = "is not set" if secret is None else f"holds fewer than {MIN_SECRET} bytes"
                bad.append(
                    Problem(
                        f"{key}.secret_env",
                        entry.secret_env,
                        f"environment variable {entry.secret_env} {state}: destination "
                        f"{entry.name!r} sends nothing unsigned, so nothing until it holds "
                        f"a key of at least {MIN_SECRET} bytes",
                    )
                )
        if bad:
            problems.extend(bad)
            continue
        found.append(
            Destination(
                name=entry.name,
                kind=entry.kind,
                url=url,
                secret=secret,
                events=tuple(entry.events),
                namespaces=tuple(entry.namespaces),
                applications=tuple(entry.applications),
            )
        )
    return found, problems
