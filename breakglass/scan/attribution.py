"""Who made a drifted change, from the API server's own audit log.

``metadata.managedFields`` says which field manager set a field, and when to the second, but
never which user.  The API server's audit log backend (``--audit-log-path``: one JSON Event per
line, rotated files plain or gzip) does.  ``AuditTrail`` keeps the persisted writes from those
files and answers ``who`` gave a field its current value, only on evidence: a request body that
sets it, or, where no bodies were logged, its manager writing in the second managedFields names.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, final
from urllib.parse import parse_qs, urlsplit

import orjson

from breakglass.errors import InputError

Step = str | dict[str, Any]
FieldPath = tuple[Step, ...]

_WRITE_VERBS: Final = frozenset({"create", "update", "patch"})
_GZIP_MAGIC: Final = b"\x1f\x8b"
_HINT: Final = "pass the API server's --audit-log-path file(s); rotated files may be .gz"
_MISSING: Final = object()
_SECOND: Final = timedelta(seconds=1)
_MANAGER_BYTES: Final = 128  # the API server's limit on a field manager's name


@final
class _Removed:
    """A field that is not there; its one instance, ``REMOVED``, survives copy and pickle."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "REMOVED"

    def __reduce__(self) -> str:
        return "REMOVED"


#: pass as ``value`` to ``AuditTrail.who`` to ask who removed a field
REMOVED: Final = _Removed()


@final
class _Set:
    """Any value: for a field whose value is known only as a redaction marker (a Secret's)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ANY_VALUE"

    def __reduce__(self) -> str:
        return "ANY_VALUE"


#: pass as ``value`` to ``AuditTrail.who`` to ask who last set a field, whatever to
ANY_VALUE: Final = _Set()


@dataclass(frozen=True)
class Write:
    """One successful write to an object, as the API server's audit log recorded it."""

    audit_id: str
    at: datetime
    user: str
    impersonator: str | None
    verb: str
    manager: str
    user_agent: str
    subresource: str
    request_object: Any


@dataclass(frozen=True)
class ObjectKey:
    """An object as the audit log names it: API group (``""`` for core), plural resource,
    namespace (``""`` if cluster-scoped) and name."""

    group: str
    resource: str
    namespace: str
    name: str


def field_manager(request_uri: str, user_agent: str) -> str:
    """The manager the API server recorded for a write: the ``fieldManager`` query parameter,
    else, as the server defaults it, the printable characters of the user agent before its first
    ``/``, at most 128 bytes (``kubectl/v1.36.3 (linux/amd64)`` → ``kubectl``)."""
    managers = parse_qs(urlsplit(request_uri).query).get("fieldManager", [])
    if managers and managers[0]:
        return managers[0]
    prefix = "".join(c for c in user_agent.split("/", 1)[0] if c.isprintable())
    return prefix.encode()[:_MANAGER_BYTES].decode(errors="ignore")


@dataclass(frozen=True, eq=False)
class AuditTrail:
    """Every persisted write found in a set of audit log files, by object, oldest first."""

    files: tuple[str, ...]
    events: int  # lines that were audit events
    skipped: int  # lines that were not, or were writes that could not be placed in time
    _writes: dict[ObjectKey, list[Write]] = field(repr=False)

    @classmethod
    def read(cls, paths: Sequence[str | os.PathLike[str]]) -> AuditTrail:
        """Reads every line of every file (plain or gzip, told apart by content).  A line that
        is not a JSON object with an ``auditID``, or a kept write with no usable timestamp, is
        counted in ``skipped``; an event seen twice (a file passed twice) is kept once."""
        writes: dict[ObjectKey, list[Write]] = {}
        seen: set[str] = set()
        events = skipped = 0
        for path in paths:
            for line in _lines(path):
                try:
                    event = orjson.loads(line)
                    if not isinstance(event, dict) or not isinstance(event.get("auditID"), str):
                        raise ValueError("not an audit event")
                    events += 1
                    kept = _write(event)
                except ValueError:  # includes orjson.JSONDecodeError
                    skipped += bool(line.strip())  # blank lines are not worth a mention
                    continue
                if kept is not None and kept[1].audit_id not in seen:
                    seen.add(kept[1].audit_id)
                    writes.setdefault(kept[0], []).append(kept[1])
        for found in writes.values():
            found.sort(key=lambda w: w.at)
        return cls(tuple(os.fspath(p) for p in paths), events, skipped, writes)

    def writes_to(self, key: ObjectKey) -> list[Write]:
        """Every persisted write to ``key`` (any subresource), oldest first."""
        return list(self._writes.get(key, ()))

    def who(
        self,
        key: ObjectKey,
        path: FieldPath,
        value: Any,
        *,
        manager: str | None,
        since: datetime | None,
    ) -> Write | None:
        """The write that gave ``path`` of ``key`` its current ``value`` (``REMOVED``: that
        removed it), or None.  Writes to the object itself count, and for ``spec.replicas``
        also writes to its ``scale`` subresource; then:

        1. Candidates are writes whose request body sets ``path`` to ``value``: a dict patch
           (merge, strategic, apply) holding the path with that value, list items matched on
           all the key fields of the step, ``$`` directives ignored; a JSON patch ``add`` or
           ``replace`` at the path, or at an ancestor with a value holding the rest of the path
           (a numeric index matches a key step only as the op's last token, when its value is
           the item); a create or update whose whole object has it.  ``REMOVED``: a null at the
           path or an ancestor, a ``$patch: delete`` item, a JSON patch ``remove`` of the path
           or an ancestor, or a whole object (or JSON patch value) without it.
        2. With ``manager``, candidates by that manager are preferred, if there are any.
        3. With ``since`` (managedFields time, to the second; naive means UTC), candidates
           before ``since`` + 1 s are preferred, if there are any.
        4. The latest remaining candidate is the answer.
        5. No candidate: among writes logged without a body (Metadata level), the latest by
           ``manager`` within [since, since + 1 s), when both are given.  Else None.

        Values compare with ``==`` except that booleans, numbers and strings never equal each
        other (``"3"`` is not ``3``); quantities are not normalised.
        """
        allowed = ("", "scale") if tuple(path) == ("spec", "replicas") else ("",)
        writes = [w for w in self._writes.get(key, ()) if w.subresource in allowed]
        found = [w for w in writes if w.request_object is not None and _sets(w, path, value)]
        if manager is not None:
            found = [w for w in found if w.manager == manager] or found
        if since is not None:
            since = (since if since.tzinfo else since.replace(tzinfo=UTC)).replace(microsecond=0)
            found = [w for w in found if w.at < since + _SECOND] or found
        if found:
            return found[-1]
        if manager is None or since is None:
            return None
        bare = [w for w in writes if w.request_object is None and w.manager == manager]
        return next((w for w in reversed(bare) if since <= w.at < since + _SECOND), None)


def _lines(path: str | os.PathLike[str]) -> Iterator[bytes]:
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            yield from gzip.GzipFile(fileobj=raw) if gzipped else raw
    except (OSError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise InputError(f"cannot read audit log {os.fspath(path)}: {reason}", hint=_HINT) from exc


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _write(event: dict[str, Any]) -> tuple[ObjectKey, Write] | None:
    """``(key, write)`` for a persisted write, None for any other event; ``ValueError`` for a
    write whose time cannot be read."""
    verb, ref = event.get("verb"), event.get("objectRef")
    code = _get(event.get("responseStatus"), ("code",))  # none: not known to have succeeded
    if event.get("stage") != "ResponseComplete" or verb not in _WRITE_VERBS:
        return None
    if type(code) is not int or not 200 <= code < 300 or not isinstance(ref, dict):
        return None
    uri = _text(event.get("requestURI"))
    if "All" in parse_qs(urlsplit(uri).query).get("dryRun", []):
        return None  # validated and answered, never stored
    name = _text(ref.get("name"))
    if not name and verb == "create":
        name = _text(_get(event.get("responseObject"), ("metadata", "name")))
    resource = _text(ref.get("resource"))
    if not name or not resource:
        return None
    at = _time(event.get("stageTimestamp")) or _time(event.get("requestReceivedTimestamp"))
    if at is None:
        raise ValueError("no stageTimestamp")
    username = _text(_get(event.get("user"), ("username",)))
    effective = _text(_get(event.get("impersonatedUser"), ("username",)))
    agent = _text(event.get("userAgent"))
    key = ObjectKey(_text(ref.get("apiGroup")), resource, _text(ref.get("namespace")), name)
    return key, Write(
        audit_id=event["auditID"],
        at=at,
        user=effective or username,
        impersonator=username if effective else None,
        verb=verb,
        manager=field_manager(uri, agent),
        user_agent=agent,
        subresource=_text(ref.get("subresource")),
        request_object=event.get("requestObject"),
    )


def _time(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _get(node: Any, path: Sequence[Step]) -> Any:
    """The value at ``path``; None where the path or an ancestor is null or a deleted list
    item (a removal, in a patch); ``_MISSING`` where it is absent."""
    for step in path:
        if node is None:
            return None
        if isinstance(step, str):
            node = node.get(step, _MISSING) if isinstance(node, dict) else _MISSING
        else:
            items = node if isinstance(node, list) else ()
            node = next((item for item in items if _matches(item, step)), _MISSING)
            if isinstance(node, dict) and node.get("$patch") == "delete":
                return None
        if node is _MISSING:
            return _MISSING
    return node


def _matches(item: Any, step: dict[str, Any]) -> bool:
    return isinstance(item, dict) and all(k in item and _same(item[k], v) for k, v in step.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        a, b = ({k: v for k, v in d.items() if not k.startswith("$")} for d in (a, b))
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _holds(found: Any, value: Any) -> bool:
    """Whether a whole object (or subtree) whose lookup gave ``found`` has ``value`` there."""
    if value is REMOVED:
        return found is _MISSING or found is None
    if value is ANY_VALUE:
        return found is not _MISSING and found is not None
    return found is not _MISSING and found is not None and _same(found, value)


def _sets(write: Write, path: FieldPath, value: Any) -> bool:
    body = write.request_object
    if isinstance(body, list):
        return any(_op_sets(op, path, value) for op in body)
    if not isinstance(body, dict):
        return False
    found = _get(body, path)
    if write.verb == "patch" and value is REMOVED:
        return found is None  # a patch that leaves a field out leaves it alone
    return _holds(found, value)


def _op_sets(op: Any, path: FieldPath, value: Any) -> bool:
    """Whether one JSON patch operation sets ``path`` to ``value`` (see ``AuditTrail.who``)."""
    if not isinstance(op, dict) or not isinstance(op.get("path"), str):
        return False
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
    depth, kind = 0, op.get("op")
    while depth < min(len(tokens), len(path)) and tokens[depth] == path[depth]:
        depth += 1
    if depth == len(tokens):  # the op is at the path or an ancestor
        if kind == "remove":
            return value is REMOVED
        rest = path[depth:]
    elif depth == len(tokens) - 1 < len(path) and (tokens[-1].isdigit() or tokens[-1] == "-"):
        step = path[depth]  # the op adds or replaces a list item: is it the one in the path?
        if not isinstance(step, dict) or not _matches(op.get("value"), step):
            return False
        rest = path[depth + 1 :]
    else:
        return False
    return kind in ("add", "replace") and "value" in op and _holds(_get(op["value"], rest), value)
