"""``breakglass open``: start a break-glass session as yourself, before changing production."""

from __future__ import annotations

import argparse
import asyncio
import sys

from breakglass import model
from breakglass.commands import _person
from breakglass.commands.report import span
from breakglass.errors import InputError
from breakglass.sessions import objects

NAME = "open"
SUMMARY = "open a break-glass session before changing production by hand"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY}.\n\n"
        "Creates a BreakglassSession object with your own kubeconfig identity: the API server "
        "authenticates you, and breakglass's webhook records the session with you as its "
        "owner. Until it ends (--for, or breakglass close), the changes you and its members "
        "make in its scope (--namespace, --app; none: everything) belong to it: one pull "
        "request per session and repository, titled with the reason. With admission.mode "
        "require-session, a manual change to a GitOps-managed object is refused without one.\n\n"
        "The same object can be written by hand (kubectl create -f): spec.owner must be you."
    )
    parser.epilog = (
        "examples:\n"
        '  breakglass open --reason "INC-4242 checkout 502s" --for 30m --namespace shop\n'
        '  breakglass open --reason "INC-4242" --for 1h --app checkout --member bob\n'
        "  breakglass sessions        # what is open\n"
        "  breakglass close           # end yours early"
    )
    parser.add_argument(
        "--reason", required=True, help="why: the incident id and what is broken (required)"
    )
    parser.add_argument(
        "--for",
        dest="duration",
        default="30m",
        metavar="SPAN",
        help="how long it stays open: 30m (default), 2h; at most sessions.max_hours",
    )
    parser.add_argument(
        "--namespace", action="append", default=[], metavar="NS", help="scope (repeatable)"
    )
    parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="NAME",
        help="scope: an Argo CD Application or Flux Kustomization/HelmRelease name (repeatable)",
    )
    parser.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="USER",
        help="a colleague whose changes belong to it too (their Kubernetes username)",
    )
    _person.add_arguments(parser, what="the session is opened as")


def run(args: argparse.Namespace) -> int:
    if not args.reason.strip():
        raise InputError("--reason is empty", hint='--reason "INC-4242 checkout 502s"')
    length = span(args.duration, flag="--for")
    print(asyncio.run(_open(args, length.total_seconds())))
    return 0


async def _open(args: argparse.Namespace, seconds: float) -> str:
    from datetime import timedelta

    cluster = await _person.connect(args, what="a session is opened")
    try:
        owner = str((await cluster.whoami()).get("username") or "")
        if not owner:
            raise InputError("the API server did not say who you are (SelfSubjectReview)")
        now = model.utcnow()
        name = objects.session_name(owner, now)
        body = objects.build(
            name=name,
            owner=owner,
            reason=args.reason.strip(),
            expires_at=now + timedelta(seconds=seconds),
            namespaces=args.namespace,
            applications=args.app,
            members=args.member,
        )
        await cluster.create(
            group=objects.GROUP,
            version=objects.VERSION,
            plural=objects.PLURAL,
            namespace="",
            body=body,
        )
    finally:
        await cluster.close()
    scope = ", ".join(
        [f"namespace {n}" for n in args.namespace] + [f"application {a}" for a in args.app]
    )
    until = body["spec"]["expiresAt"]
    members = f"; members: {', '.join(args.member)}" if args.member else ""
    print(f"session {name} is open for {owner}", file=sys.stderr)
    return (
        f"{name}: open until {until} ({scope or 'every namespace'}{members}): {args.reason}\n"
        f"end it early with: breakglass close {name}"
    )
