"""``breakglass audit verify|show``: check the tamper-evident audit log and read it.

``verify`` is what a security reviewer runs before trusting the log: it needs the HMAC key and
exits 1 on any problem.  ``show`` answers "every manual change in payments last week, and what
became of it" without the key; it does not verify, so run ``verify`` first.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from breakglass import model, settings, wiring
from breakglass.auditlog import keys, query, verify
from breakglass.auditlog.records import ChainHead, EventType
from breakglass.auditlog.writer import log_files
from breakglass.errors import InputError

NAME = "audit"
SUMMARY = "verify the audit log, and show who changed what"

_DEFAULT_KEY_ENV = settings.AuditLogSettings().key_env


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  breakglass audit verify --config breakglass.yaml\n"
        "  BREAKGLASS_AUDIT_LOG_KEY=... breakglass audit verify /var/lib/breakglass/audit\n"
        "  breakglass audit show --config breakglass.yaml --namespace payments --since 7d\n"
        "  breakglass audit show --dir ./audit --user alice --format csv > alice.csv"
    )
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "verify",
        help="check MACs, prev links and seq continuity; exit 1 on any problem",
        description="Check every record's MAC, its link to the previous record and the "
        "sequence across rotated files. Prints 'N/M records valid' and one line per problem.",
        epilog="examples:\n"
        "  breakglass audit verify --config breakglass.yaml\n"
        "  BREAKGLASS_AUDIT_LOG_KEY=... breakglass audit verify /var/lib/breakglass/audit\n"
        "  breakglass audit verify --key-file audit.key --each replica-0/audit "
        "replica-1/audit\n"
        "  breakglass audit verify --config breakglass.yaml --anchor 5:4f04b58cf802762"
        "7ed5676677442e47e628b4c322d42409a50bc6585e6bb9562",
    )
    check.add_argument(
        "paths", nargs="*", metavar="PATH", type=Path, help="log files or directories"
    )
    check.add_argument(
        "--config",
        metavar="FILE",
        help="settings file: the key, and both chains (audit_log.dir and "
        "audit_log.dir/worker), each checked on its own",
    )
    check.add_argument(
        "--key-env", metavar="NAME", help=f"env var holding the key (default {_DEFAULT_KEY_ENV})"
    )
    check.add_argument("--key-file", metavar="FILE", type=Path, help="file holding the key")
    check.add_argument(
        "--each",
        action="store_true",
        help="verify every PATH as a chain of its own (one per replica's audit directory); "
        "each --anchor must be in one of them",
    )
    check.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="SEQ:MAC",
        help="a chain head recorded in Git (commit trailer, PR body) that the log must contain; "
        "repeatable",
    )
    show = sub.add_parser(
        "show",
        help="list audit records, filtered, as a table, JSON or CSV",
        description="List audit records oldest first. Does not verify: run `audit verify`.",
        epilog="examples:\n"
        "  breakglass audit show --config breakglass.yaml --namespace payments --since 7d\n"
        "  breakglass audit show --config breakglass.yaml --capture 01JC3W9X8R4T5Y6Z7A8B9C0D1E\n"
        "  breakglass audit show --dir replica-0/audit --dir replica-1/audit --user alice "
        "--format csv > alice.csv",
    )
    where = show.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--config",
        metavar="FILE",
        help="settings file: reads audit_log.dir and the worker's chain in audit_log.dir/worker",
    )
    where.add_argument(
        "--dir",
        metavar="DIR",
        type=Path,
        action="append",
        help="an audit log directory; repeat it to merge several replicas' logs by time",
    )
    show.add_argument("--user", help="who acted (or impersonated); '*' globs allowed")
    show.add_argument("--namespace", help="namespace of the object; '*' globs allowed")
    show.add_argument("--kind", help="kind of the object (case-insensitive)")
    show.add_argument("--since", metavar="WHEN", help="ISO date/time, or 7d, 12h, 30m, 2w ago")
    show.add_argument("--until", metavar="WHEN", help="ISO date/time, or 7d, 12h, 30m, 2w ago")
    show.add_argument("--outcome", help="e.g. provisional, confirmed, pr_open, merged, failed")
    show.add_argument("--type", choices=[t.value for t in EventType], help="record type")
    show.add_argument("--capture", metavar="ID", help="one capture's records")
    show.add_argument("--format", choices=["table", "json", "csv"], default="table")


def _key(args: argparse.Namespace, loaded: settings.Settings | None) -> keys.Key:
    if args.key_file is not None:
        return keys.from_file(args.key_file)
    if args.key_env is not None:
        key = keys.from_env(args.key_env)
        if key is None:
            raise InputError(f"environment variable {args.key_env} is not set")
        return key
    if loaded is not None:
        return keys.resolve(loaded)
    key = keys.from_env(_DEFAULT_KEY_ENV)
    if key is None:
        raise InputError(
            "no audit log key given",
            hint=f"set {_DEFAULT_KEY_ENV}, or pass --key-env, --key-file or --config",
        )
    return key


def _verify(args: argparse.Namespace) -> int:
    loaded = settings.load(args.config) if args.config else None
    paths: list[Path] = list(args.paths)
    if not paths:
        if loaded is None:
            raise InputError("nothing to verify", hint="give PATH... or --config FILE")
        # the webhook's chain, and the worker's: each that has been written
        paths = [d for d in wiring.audit_dirs(loaded) if log_files(d)] or [loaded.audit_log.dir]
    try:
        anchors = [ChainHead.parse(a) for a in args.anchor]
    except ValueError as exc:
        raise InputError(f"--anchor: {exc}") from None
    key = _key(args, loaded)
    if args.each or not args.paths:  # from the config: one line per chain, named
        return _verify_each(paths, key, anchors)
    report = verify.verify(paths, key=key.secret, anchors=anchors)
    if not report.files:
        raise InputError(
            f"no audit log files (audit-YYYYMMDD-NNNN.jsonl) in {', '.join(map(str, paths))}"
        )
    print(report.summary())
    for problem in report.problems:
        print(problem)
    macs_bad = sum(1 for p in report.problems if p.message == "mac mismatch")
    if report.total and macs_bad == report.total:
        print(f"hint: every MAC fails; is {key.source} the key that wrote this log?")
    print(f"head: {report.head}  ({len(report.files)} file(s))")
    return 0 if report.ok else 1


def _verify_each(paths: Sequence[Path], key: keys.Key, anchors: Sequence[ChainHead]) -> int:
    """One chain per path (several replicas each keep their own); an anchor may be in any."""
    ok = True
    found: set[ChainHead] = set()
    for path in paths:
        report = verify.verify([path], key=key.secret, anchors=anchors)
        if not report.files:
            raise InputError(f"no audit log files (audit-YYYYMMDD-NNNN.jsonl) in {path}")
        chain_problems = [p for p in report.problems if not p.message.startswith("anchor ")]
        print(f"{path}: {report.summary()}, head {report.head} ({len(report.files)} file(s))")
        for problem in chain_problems:
            print(f"  {problem}")
        ok = ok and not chain_problems and report.total == report.valid
        found.update(report.anchored)
    for anchor in anchors:
        if anchor not in found:
            print(f"anchor {anchor} is in none of these chains")
            ok = False
    return 0 if ok else 1


def _printable(value: Any) -> str:
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else "?" for c in text)


def _row(record: dict[str, Any]) -> dict[str, str]:
    actor = record.get("actor") if isinstance(record.get("actor"), dict) else None
    obj = record.get("object") if isinstance(record.get("object"), dict) else None
    summary = record.get("summary") if isinstance(record.get("summary"), dict) else {}
    actor = actor or {}
    obj = obj or {}
    assert isinstance(summary, dict)
    paths = summary.get("paths") if isinstance(summary.get("paths"), list) else []
    assert isinstance(paths, list)

    def joined(value: Any) -> str:
        return ";".join(str(v) for v in value) if isinstance(value, list) else ""

    return {
        "seq": str(record.get("seq", "")),
        "time": str(record.get("time", "")),
        "type": str(record.get("type", "")),
        "cluster": str(record.get("cluster", "")),
        "capture_id": str(record.get("capture_id", "")),
        "user": str(actor.get("user") or ""),
        "groups": joined(actor.get("groups")),
        "impersonator": str(actor.get("impersonator") or ""),
        "source_ips": joined(actor.get("source_ips")),
        "user_agent": str(actor.get("user_agent") or ""),
        "kind": str(obj.get("kind") or ""),
        "namespace": str(obj.get("namespace") or ""),
        "name": str(obj.get("name") or ""),
        "operation": str(summary.get("operation") or ""),
        "paths": joined(paths),
        "outcome": str(record.get("outcome") or ""),
        "pr_url": str(record.get("pr_url") or ""),
        "mac": str(record.get("mac", "")),
    }


def table(found: Sequence[dict[str, Any]]) -> str:
    header = ("SEQ", "TIME", "TYPE", "USER", "OBJECT", "OUTCOME", "CAPTURE", "PR")
    rows: list[tuple[str, ...]] = [header]
    for record in found:
        r = _row(record)
        obj = "/".join(x for x in (r["kind"], r["namespace"], r["name"]) if x)
        user = r["user"] + (f" (as {r['impersonator']})" if r["impersonator"] else "")
        when = r["time"][:19] + "Z"
        cells = (
            r["seq"],
            when,
            r["type"],
            user,
            obj,
            r["outcome"],
            r["capture_id"],
            r["pr_url"] or "-",
        )
        rows.append(tuple(_printable(c)[:80] for c in cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(found: Sequence[dict[str, Any]]) -> str:
    """CSV with a header; cells that a spreadsheet would run as a formula are quoted with '."""
    out = io.StringIO()
    rows = [_row(r) for r in found]
    fields = list(_row({}).keys())
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: ("'" + v if v.startswith(_FORMULA_START) else v) for k, v in row.items()}
        )
    return out.getvalue()


def _show(args: argparse.Namespace) -> int:
    directories = wiring.audit_dirs(settings.load(args.config)) if args.config else args.dir
    for directory in directories:
        if not directory.is_dir():
            raise InputError(f"no audit log directory {directory}")
    now = model.utcnow()
    where = query.Filter(
        user=args.user,
        namespace=args.namespace,
        kind=args.kind,
        since=query.parse_when(args.since, now=now) if args.since else None,
        until=query.parse_when(args.until, now=now) if args.until else None,
        outcome=args.outcome,
        type=args.type,
        capture_id=args.capture,
    )
    reading = query.Reading()
    found = [r for d in directories for r in query.select([d], where, reading)]
    if len(directories) > 1:  # several chains (one per replica): one list, by time
        found.sort(key=lambda record: str(record.get("time", "")))
    if args.format == "json":
        json.dump(found, sys.stdout, indent=2, ensure_ascii=False)
        print()
    elif args.format == "csv":
        sys.stdout.write(to_csv(found))
    elif found:
        print(table(found))
    else:
        print("no matching records")
    if reading.skipped:
        print(
            f"warning: {reading.skipped} unreadable line(s) skipped; run `breakglass audit verify`",
            file=sys.stderr,
        )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.audit_command == "verify":
        return _verify(args)
    return _show(args)
