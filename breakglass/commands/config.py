"""``breakglass config check FILE``: validate a settings file and print every problem."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from breakglass import renderexec, settings, sopsexec
from breakglass.errors import ConfigError
from breakglass.urls import is_postgresql

NAME = "config"
SUMMARY = "check a settings file and print every problem at once"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "example:\n  breakglass config check examples/breakglass.yaml"
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate FILE; prints 'ok' or one line per problem")
    check.add_argument("file", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    try:
        loaded = settings.load(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}")
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return 1
    missing = []
    if loaded.audit_webhook.enabled and not loaded.secret(loaded.audit_webhook.token_env):
        missing.append(
            f"note: environment variable {loaded.audit_webhook.token_env} is not set; "
            "/audit will refuse every request until it is"
        )
    if loaded.backfill.sops_binary and sopsexec.find_binary(loaded.backfill.sops_binary) is None:
        missing.append(
            f"note: backfill.sops_binary {loaded.backfill.sops_binary} is not an executable "
            "file; changes to SOPS-encrypted Secrets will fail until it is"
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
                f"note: backfill.{key} {configured} is not an executable file; the render "
                f"check of backfill branches for {use} will fail until it is"
            )
    if is_postgresql(loaded.journal_url) and importlib.util.find_spec("psycopg") is None:
        missing.append(
            "note: the journal is PostgreSQL but its driver is not installed here: "
            "pip install 'breakglass[postgresql]'"
        )
    for line in missing:
        print(line, file=sys.stderr)
    print("ok")
    return 0
