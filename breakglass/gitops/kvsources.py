"""The key/value syntaxes of kustomize generators, read and written as kustomize reads them.

A ``configMapGenerator`` or ``secretGenerator`` states its keys in three syntaxes: a
``literals`` entry ``KEY=VALUE`` (kustomize splits at the first ``=`` and then drops one pair
of matching quotes around the value), an env file (one ``KEY=VALUE`` per line, blank lines
and ``#`` comments skipped, leading white space ignored, a line without ``=`` taking its value
from the environment of whoever runs kustomize), and a ``files`` entry (``path`` or
``key=path``; the file's whole content is the value).  Writing a changed value back has to
produce text that kustomize reads as exactly that value, and must leave every other line of
an env file byte for byte as it was.  These are pure functions on strings; finding the files
and deciding which source holds a key is ``generators``' job.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Final

_QUOTES: Final = ("'", '"')
_BOM: Final = "\ufeff"
#: An env file key kustomize accepts (Kubernetes' ``IsEnvVarName``).
_ENV_KEY: Final = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
#: White space as Go's ``unicode.IsSpace`` sees it, which kustomize trims from line starts.
_GO_SPACE: Final = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}


# --------------------------------------------------------------------------------------------
# Literals


def _unquote(value: str) -> str:
    """The value as kustomize keeps it: one pair of matching surrounding quotes removed."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES:
        return value[1:-1]
    return value


def parse_literal(text: str) -> tuple[str, str] | None:
    """``(key, value)`` of a ``literals`` entry, or ``None`` if kustomize would reject it."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        return None
    return key, _unquote(value)


def literal_quote(text: str) -> str | None:
    """The quote character wrapping an entry's value (``KEY="v"`` → ``"``), if any."""
    _, sep, value = text.partition("=")
    if sep and len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES:
        return value[0]
    return None


def render_literal(key: str, value: str, quote: str | None = None) -> str:
    """A ``literals`` entry that kustomize reads as ``(key, value)``.

    ``quote`` is the quoting the entry used before and is kept.  Without it the value is
    written bare, unless it is itself wrapped in matching quotes, which kustomize would strip:
    then it gets one more pair.
    """
    if quote is None and len(value) >= 2 and value[0] == value[-1] and value[0] in _QUOTES:
        quote = "'" if value[0] == '"' else '"'
    if quote is None:
        return f"{key}={value}"
    return f"{key}={quote}{value}{quote}"


# --------------------------------------------------------------------------------------------
# Env files


@dataclass(frozen=True)
class EnvLine:
    """One ``KEY=VALUE`` line of an env file and where its value sits in the text."""

    key: str
    value: str | None  # None: the line has no ``=``; kustomize reads the environment
    start: int  # offset of the line's first character
    value_start: int  # offset just after the ``=`` (== ``end`` when value is None)
    end: int  # offset of the line's end, before any ``\r\n`` / ``\n``
    newline: str  # the line break that ends it: "\r\n", "\n" or ""


def _lines(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, newline)`` per line, split only at ``\\n`` as Go's line scanner does."""
    out: list[tuple[int, int, str]] = []
    start = 0
    while start < len(text):
        nl = text.find("\n", start)
        if nl < 0:
            end, newline, nxt = len(text), "", len(text)
        else:
            end, newline, nxt = nl, "\n", nl + 1
        if newline and end > start and text[end - 1] == "\r":
            end -= 1
            newline = "\r\n"
        out.append((start, end, newline))
        start = nxt
    return out


def env_lines(text: str) -> list[EnvLine]:
    """The key lines of an env file, in order (comments and blank lines left out)."""
    found: list[EnvLine] = []
    for number, (start, end, newline) in enumerate(_lines(text)):
        pos = start
        if number == 0 and text.startswith(_BOM, pos):
            pos += len(_BOM)
        while pos < end and text[pos] in _GO_SPACE:
            pos += 1
        if pos >= end or text[pos] == "#":
            continue
        body = text[pos:end]
        key, sep, value = body.partition("=")
        if sep:
            value_start = pos + len(key) + 1
            found.append(EnvLine(key, value, start, value_start, end, newline))
        else:
            found.append(EnvLine(key, None, start, end, end, newline))
    return found


def env_key_ok(key: str) -> bool:
    """Whether ``key`` may start an env file line."""
    return _ENV_KEY.match(key) is not None


def env_value_ok(value: str) -> bool:
    """Whether ``value`` fits on one env file line and reads back unchanged."""
    return "\n" not in value and "\r" not in value


def _find(text: str, key: str) -> EnvLine | None:
    lines = [line for line in env_lines(text) if line.key == key]
    return lines[-1] if lines else None


def env_set(text: str, key: str, value: str) -> str:
    """The env file with ``key``'s value replaced (the line must exist and have ``=``)."""
    line = _find(text, key)
    if line is None or line.value is None:
        raise ValueError(f"no {key}= line")
    return text[: line.value_start] + value + text[line.end :]


def env_add(text: str, key: str, value: str) -> str:
    """The env file with a ``key=value`` line added at its end, in its line-break style."""
    lines = _lines(text)
    newline = "\r\n" if any(nl == "\r\n" for _, _, nl in lines) else "\n"
    if text and not text.endswith("\n"):
        text += newline
    return f"{text}{key}={value}{newline}"


def env_remove(text: str, key: str) -> str:
    """The env file without ``key``'s line (other lines, comments included, untouched)."""
    line = _find(text, key)
    if line is None:
        return text
    return text[: line.start] + text[line.end + len(line.newline) :]


# --------------------------------------------------------------------------------------------
# File sources


def parse_file_source(entry: str) -> tuple[str, str] | None:
    """``(key, path)`` of a ``files`` entry (``path`` or ``key=path``), ``None`` if invalid."""
    count = entry.count("=")
    if count == 0:
        return (posixpath.basename(entry), entry) if entry else None
    if count > 1:
        return None
    key, path = entry.split("=")
    if not key or not path:
        return None
    return key, path
