"""``breakglass config check FILE``: validate a settings file and print every problem."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys

from breakglass import renderexec, settings, sopsexec
from breakglass.errors import ConfigError
from breakglass.notify import destinations
from breakglass.urls import is_postgresql

NAME = "config"
SUMMARY = "check a settings file and print every problem at once"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  breakglass config check examples/breakglass.yaml\n"
        "  breakglass config check --for-install deploy/base/breakglass.yaml"
    )
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="validate FILE; prints 'ok' or one line per problem",
        description="Validate FILE and print 'ok' (exit 0), or one line per problem, each with "
        "its key path, the value found and what is allowed (exit 1).",
        epilog="examples:\n"
        "  breakglass config check examples/breakglass.yaml\n"
        "  breakglass config check --for-install deploy/base/breakglass.yaml   # before "
        "kubectl apply -k",
    )
    check.add_argument("file", metavar="FILE")
    check.add_argument(
        "--for-install",
        action="store_true",
        help="check FILE before installing it, away from where breakglass will run: every "
        "value is validated, but the files that exist only there (tls.cert_file, "
        "tls.key_file, tls.client_ca_file, audit_log.key_file) are not looked for, nor the "
        "environment (secrets' variables, sops/kustomize/helm/tofu binaries, the PostgreSQL "
        "driver); each check left out is printed as 'skipped: ...'",
    )


_ELSEWHERE = "exists only where breakglass runs"


def run(args: argparse.Namespace) -> int:
    elsewhere = settings.RuntimeFiles() if args.for_install else None
    try:
        loaded = settings.load(args.file, elsewhere=elsewhere)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}")
        if elsewhere is not None:
            _print_skipped(elsewhere)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    if elsewhere is not None:
        _print_skipped(elsewhere)
        for key, value, _ in _environment(loaded):
            print(f"skipped: {key} {value} ({_ELSEWHERE})", file=sys.stderr)
    else:
        for _, _, note in _environment(loaded):
            print(f"note: {note}", file=sys.stderr)
    print("ok")
    return 0


def _print_skipped(elsewhere: settings.RuntimeFiles) -> None:
    """One line per file that was not looked for."""
    for key, path in elsewhere.skipped.items():
        print(f"skipped: {key} {path} ({_ELSEWHERE})", file=sys.stderr)


def _environment(loaded: settings.Settings) -> list[tuple[str, str, str]]:
    """What this environment lacks that breakglass will need where it runs: each as the key
    that asks for it, what it asks for, and a note on what fails without it."""
    missing = []
    if loaded.audit_webhook.enabled and not loaded.secret(loaded.audit_webhook.token_env):
        missing.append(
            (
                "audit_webhook.token_env",
                loaded.audit_webhook.token_env,
                f"environment variable {loaded.audit_webhook.token_env} is not set; "
                "/audit will refuse every request until it is",
            )
        )
    if loaded.backfill.sops_binary and sopsexec.find_binary(loaded.backfill.sops_binary) is None:
        missing.append(
            (
                "backfill.sops_binary",
                loaded.backfill.sops_binary,
                f"backfill.sops_binary {loaded.backfill.sops_binary} is not an executable "
                "file; changes to SOPS-encrypted Secrets will fail until it is",
            )
        )
    for key, configured, find, use in (
        (
            "kustomize_binary",
            loaded.backfill.kustomize_binary,
            renderexec.find_kustomize,
            "kustomize applications",
        ),
        ("helm_binary", loaded.backfill.helm_binary, renderexec.find_helm, "Helm charts"),
    ):
        if configured and find(configured) is None:
            missing.append(
                (
                    f"backfill.{key}",
                    configured,
                    f"backfill.{key} {configured} is not an executable file; the render "
                    f"check of backfill branches for {use} will fail until it is",
                )
            )
    for number, root in enumerate(loaded.terraform.roots):
        key = f"terraform.roots[{number}]"
        if shutil.which(root.binary) is None:
            missing.append(
                (
                    f"{key}.binary",
                    root.binary,
                    f"{key}.binary {root.binary} is not an executable on PATH or a path to "
                    f"one; scans of root {root.name} will fail until it is",
                )
            )
        missing.extend(
            (
                f"{key}.env",
                name,
                f"environment variable {name} ({key}.env) is not set; the binary will run "
                "without it",
            )
            for name in root.env
            if name not in os.environ
        )
    _, unusable = destinations.usable(loaded.notifications, os.environ)
    missing.extend((p.key, p.variable, f"{p.key}: {p.text}") for p in unusable)
    if is_postgresql(loaded.journal_url) and importlib.util.find_spec("psycopg") is None:
        missing.append(
            (
                "journal",
                "the PostgreSQL driver (psycopg)",
                "the journal is PostgreSQL but its driver is not installed here: "
                "pip install 'breakglass[postgresql]'",
            )
        )
    return missing
