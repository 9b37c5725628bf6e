"""``breakglass manifests``: print the webhook configuration and API-server audit files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from breakglass import manifests, settings
from breakglass.errors import InputError

NAME = "manifests"
SUMMARY = "print the ValidatingWebhookConfiguration, audit policy and audit kubeconfig"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  breakglass manifests webhook --ca-file ca.crt --service breakglass --namespace "
        "breakglass | kubectl apply -f -\n"
        "  breakglass manifests webhook --ca-file ca.crt --url https://10.0.0.5:8443 "
        "--config breakglass.yaml\n"
        "  breakglass manifests audit-policy > /etc/kubernetes/breakglass-audit-policy.yaml\n"
        "  BREAKGLASS_AUDIT_TOKEN=... breakglass manifests audit-kubeconfig --ca-file ca.crt "
        "--url https://10.0.0.5:8443"
    )
    sub = parser.add_subparsers(dest="manifest", metavar="WHAT", required=True)
    hook = sub.add_parser(
        "webhook",
        help="the ValidatingWebhookConfiguration (failurePolicy Ignore, never denies)",
    )
    hook.add_argument("--ca-file", required=True, help="PEM CA bundle that signed the serving cert")
    where = hook.add_mutually_exclusive_group()
    where.add_argument("--url", help="breakglass's base URL, for an API server outside the cluster")
    where.add_argument("--service", default="breakglass", help="in-cluster Service name")
    hook.add_argument("--namespace", default=manifests.DEFAULT_NAMESPACE)
    hook.add_argument("--port", type=int, default=443, help="Service port")
    hook.add_argument("--timeout", type=int, default=2, help="timeoutSeconds, 1-30 (default 2)")
    hook.add_argument("--config", help="settings file whose actors.ignore become matchConditions")
    hook.add_argument(
        "--skip-namespace",
        action="append",
        default=None,
        help="namespace never sent to the webhook (repeatable; default kube-system and "
        "breakglass's own)",
    )
    sub.add_parser("audit-policy", help="the API server audit policy breakglass needs")
    kc = sub.add_parser(
        "audit-kubeconfig", help="kubeconfig for --audit-webhook-config-file (holds the token)"
    )
    kc.add_argument("--ca-file", required=True)
    kc.add_argument("--url", required=True, help="breakglass's base URL as the API server sees it")
    kc.add_argument(
        "--token-env",
        default="BREAKGLASS_AUDIT_TOKEN",
        help="environment variable holding the bearer token (default BREAKGLASS_AUDIT_TOKEN)",
    )


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def run(args: argparse.Namespace) -> int:
    if args.manifest == "webhook":
        ignore_users: tuple[str, ...] = settings.DEFAULT_IGNORED_USERS
        ignore_groups: tuple[str, ...] = settings.DEFAULT_IGNORED_GROUPS
        if args.config:
            loaded = settings.load(args.config)
            ignore_users = loaded.actors.ignore_users
            ignore_groups = loaded.actors.ignore_groups
        skip = args.skip_namespace or ["kube-system", args.namespace]
        try:
            doc = manifests.validating_webhook(
                ca_bundle=_read(args.ca_file),
                url=args.url,
                service_name=args.service,
                service_namespace=args.namespace,
                service_port=args.port,
                ignore_users=ignore_users,
                ignore_groups=ignore_groups,
                skip_namespaces=skip,
                timeout_seconds=args.timeout,
            )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
    elif args.manifest == "audit-policy":
        doc = manifests.audit_policy()
    else:
        token = settings.Settings().secret(args.token_env)
        if not token:
            raise InputError(
                f"environment variable {args.token_env} is not set",
                hint="export the audit bearer token in it; the same value breakglass serve reads",
            )
        doc = manifests.audit_webhook_kubeconfig(
            url=args.url, ca_bundle=_read(args.ca_file), token=token
        )
    yaml.safe_dump(doc, sys.stdout, sort_keys=False)
    return 0
