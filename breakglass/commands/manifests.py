"""``breakglass manifests``: print the webhook configuration and API-server audit files."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from breakglass import certs, manifests, settings
from breakglass.errors import InputError

NAME = "manifests"
SUMMARY = "generate webhook config, TLS, audit policy and audit kubeconfig"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\nThe same generators serve the end-to-end tests and deploy/, so what is "
        "tested is what is installed. Output goes to stdout as YAML (self-signed writes files)."
    )
    parser.epilog = (
        "examples:\n"
        "  breakglass manifests webhook --inject-ca-from breakglass/breakglass-serving "
        "> deploy/base/webhook.yaml\n"
        "  breakglass manifests webhook --ca-file ca.crt --url https://10.0.0.5:8443 "
        "--config breakglass.yaml\n"
        "  breakglass manifests self-signed --namespace breakglass "
        "--out deploy/overlays/self-signed/generated\n"
        "  breakglass manifests audit-policy > /etc/kubernetes/breakglass-audit-policy.yaml\n"
        "  breakglass manifests audit-kubeconfig --ca-path /etc/kubernetes/breakglass/ca.crt "
        "--token-file /etc/kubernetes/breakglass/token --url https://10.96.0.50"
    )
    sub = parser.add_subparsers(dest="manifest", metavar="WHAT", required=True)
    hook = sub.add_parser(
        "webhook",
        help="the ValidatingWebhookConfiguration (failurePolicy Ignore, never denies)",
        description="Print the ValidatingWebhookConfiguration: failurePolicy Ignore, "
        "timeoutSeconds 2, sideEffects NoneOnDryRun, */scale rules, matchConditions that "
        "drop automation, and a namespaceSelector that skips kube-system and breakglass's own.",
        epilog="examples:\n"
        "  breakglass manifests webhook --ca-file ca.crt --service breakglass "
        "--namespace breakglass | kubectl apply -f -\n"
        "  breakglass manifests webhook --inject-ca-from breakglass/breakglass-serving "
        "--config deploy/base/breakglass.yaml   # what make deploy-manifests runs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ca = hook.add_mutually_exclusive_group(required=True)
    ca.add_argument("--ca-file", help="PEM CA bundle that signed the serving cert")
    ca.add_argument(
        "--inject-ca-from",
        metavar="NS/CERT",
        help="let cert-manager inject the CA of this Certificate (no caBundle in the output)",
    )
    where = hook.add_mutually_exclusive_group()
    where.add_argument("--url", help="breakglass's base URL, for an API server outside the cluster")
    where.add_argument("--service", default="breakglass", help="in-cluster Service name")
    _common_service_args(hook)
    signed = sub.add_parser(
        "self-signed",
        help="a CA, a serving cert Secret and the webhook config with its caBundle (no "
        "cert-manager)",
        description="Create a CA and a serving certificate for the in-cluster Service, and "
        "write into DIR: tls-secret.yaml (a kubernetes.io/tls Secret, mode 0600: it holds the "
        "private key, never commit it), webhook.yaml (the ValidatingWebhookConfiguration with "
        "the caBundle filled in) and ca.crt. The CA's private key is not kept: to renew, run "
        "the command again and re-apply both files.",
        epilog="examples:\n  breakglass manifests self-signed --namespace breakglass "
        "--out deploy/overlays/self-signed/generated\n"
        "  kubectl apply -k deploy/overlays/self-signed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    signed.add_argument("--out", required=True, metavar="DIR", type=Path, help="output directory")
    signed.add_argument("--service", default="breakglass", help="in-cluster Service name")
    signed.add_argument("--secret-name", default="breakglass-tls", help="TLS Secret name")
    signed.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    signed.add_argument(
        "--extra-host",
        action="append",
        default=[],
        metavar="HOST",
        help="another DNS name or IP for the serving cert, e.g. a fixed ClusterIP the API "
        "server's audit backend uses (repeatable)",
    )
    _common_service_args(signed)
    sub.add_parser(
        "audit-policy",
        help="the API server audit policy breakglass needs",
        description="Print an audit policy: RequestResponse for writes to the kinds breakglass "
        "backfills, Metadata only for Secrets, nothing for reads.",
        epilog="examples:\n  breakglass manifests audit-policy > "
        "/etc/kubernetes/breakglass/audit-policy.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kc = sub.add_parser(
        "audit-kubeconfig",
        help="kubeconfig for --audit-webhook-config-file",
        description="Print the kubeconfig the API server's audit webhook backend uses to reach "
        "/audit. Embed the token (from --token-env; keep the file 0600) or point at a file "
        "holding it (--token-file; the kubeconfig then holds no secret).",
        epilog="examples:\n  breakglass manifests audit-kubeconfig --url https://10.96.0.50 "
        "--ca-path /etc/kubernetes/breakglass/ca.crt --token-file "
        "/etc/kubernetes/breakglass/token",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kca = kc.add_mutually_exclusive_group(required=True)
    kca.add_argument("--ca-file", help="PEM CA bundle to embed (certificate-authority-data)")
    kca.add_argument("--ca-path", help="path of the CA bundle on the API server's host")
    kc.add_argument("--url", required=True, help="breakglass's base URL as the API server sees it")
    token = kc.add_mutually_exclusive_group()
    token.add_argument(
        "--token-env",
        default="BREAKGLASS_AUDIT_TOKEN",
        help="environment variable holding the bearer token to embed (default "
        "BREAKGLASS_AUDIT_TOKEN)",
    )
    token.add_argument("--token-file", help="path of a file holding the token on the API server")


def _common_service_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", default=manifests.DEFAULT_NAMESPACE)
    parser.add_argument("--port", type=int, default=443, help="Service port (default 443)")
    parser.add_argument("--timeout", type=int, default=2, help="timeoutSeconds, 1-30 (default 2)")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="settings file whose actors.ignore become matchConditions (and whose "
        "admission.deadline_seconds --timeout must exceed); files that exist only in the pod, "
        "such as tls.cert_file, are not looked for",
    )
    parser.add_argument(
        "--skip-namespace",
        action="append",
        default=None,
        help="namespace never sent to the webhook (repeatable; default kube-system and "
        "breakglass's own)",
    )


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def _webhook(args: argparse.Namespace, *, ca_bundle: bytes | None) -> dict[str, Any]:
    ignore_users: tuple[str, ...] = settings.DEFAULT_IGNORED_USERS
    ignore_groups: tuple[str, ...] = settings.DEFAULT_IGNORED_GROUPS
    deadline = settings.AdmissionSettings().deadline_seconds
    if args.config:
        # generated where the manifests are kept, not in the pod: the files only the pod has
        # (its TLS pair, key files) are not looked for
        loaded = settings.load(args.config, elsewhere=settings.RuntimeFiles())
        ignore_users = loaded.actors.ignore_users
        ignore_groups = loaded.actors.ignore_groups
        deadline = loaded.admission.deadline_seconds
    if deadline >= args.timeout * 0.8:
        raise InputError(
            f"--timeout {args.timeout}: breakglass answers /validate within "
            f"admission.deadline_seconds ({deadline:g} s), which must stay well under the "
            "webhook's timeoutSeconds (at most 80% of it), or the API server gives up first",
            hint="raise --timeout, or lower admission.deadline_seconds",
        )
    skip = args.skip_namespace or ["kube-system", args.namespace]
    try:
        return manifests.validating_webhook(
            ca_bundle=ca_bundle,
            url=getattr(args, "url", None),
            service_name=args.service,
            service_namespace=args.namespace,
            service_port=args.port,
            ignore_users=ignore_users,
            ignore_groups=ignore_groups,
            skip_namespaces=skip,
            timeout_seconds=args.timeout,
            inject_ca_from=getattr(args, "inject_ca_from", None),
        )
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def _self_signed(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= 3650:
        raise InputError(f"--days {args.days}: give 1 to 3650")
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {out}: {exc.strerror}") from exc
    hosts = manifests.service_hosts(args.service, args.namespace) + list(args.extra_host)
    with tempfile.TemporaryDirectory(prefix="breakglass-certs-") as scratch:
        paths = certs.generate(Path(scratch), hosts, days=args.days, force=True)
        ca, cert, key = (p.read_bytes() for p in (paths.ca_file, paths.cert_file, paths.key_file))
    secret = manifests.tls_secret(
        name=args.secret_name, namespace=args.namespace, cert=cert, key=key, ca=ca
    )
    hook = _webhook(args, ca_bundle=ca)
    _write(out / "tls-secret.yaml", _dump(secret, _KEY_WARNING), 0o600)
    _write(out / "webhook.yaml", _dump(hook, _GENERATED_HEADER), 0o644)
    _write(out / "ca.crt", ca.decode(), 0o644)
    print(f"wrote {out / 'tls-secret.yaml'} (private key: keep it out of Git)")
    print(f"wrote {out / 'webhook.yaml'} (caBundle filled in)")
    print(f"wrote {out / 'ca.crt'} (valid {args.days} days, for {', '.join(hosts[:2])})")
    return 0


_GENERATED_HEADER = "# Generated by `breakglass manifests self-signed`; do not edit.\n"
_KEY_WARNING = (
    "# Generated by `breakglass manifests self-signed`. Holds a private key: never commit it.\n"
)


def _dump(doc: dict[str, Any], header: str = "") -> str:
    return header + yaml.safe_dump(doc, sort_keys=False)


def _write(path: Path, text: str, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, mode)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from exc


def run(args: argparse.Namespace) -> int:
    if args.manifest == "self-signed":
        return _self_signed(args)
    if args.manifest == "webhook":
        doc = _webhook(args, ca_bundle=_read(args.ca_file) if args.ca_file else None)
    elif args.manifest == "audit-policy":
        doc = manifests.audit_policy()
    else:
        token = None
        if args.token_file is None:
            token = settings.Settings().secret(args.token_env)
            if not token:
                raise InputError(
                    f"environment variable {args.token_env} is not set",
                    hint="export the audit bearer token in it (the value breakglass serve "
                    "reads), or pass --token-file",
                )
        doc = manifests.audit_webhook_kubeconfig(
            url=args.url,
            ca_bundle=_read(args.ca_file) if args.ca_file else None,
            ca_path=args.ca_path,
            token=token,
            token_file=args.token_file,
        )
    sys.stdout.write(_dump(doc))
    return 0
