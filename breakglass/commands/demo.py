"""``breakglass demo``: the whole loop on embedded defaults, from kubectl to a backfill PR."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
SUMMARY = "run the whole loop locally, from kubectl to a backfill PR"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{SUMMARY} (no cluster or forge account needed).\n\n"
        "Creates a GitOps repository (a local bare remote), starts breakglass serve on "
        "embedded defaults, has alice make manual changes, waits for the backfill and "
        "prints what a user sees: kubectl's warning, the captures, the branch's diff, the pull "
        "request and `audit verify`. Changes go through a real kube-apiserver when its "
        "binaries are cached (tests/e2e/testbin.sh); otherwise the API server's recorded "
        "payloads are replayed over HTTPS, and the demo says which."
    )
    parser.epilog = (
        "examples:\n"
        "  breakglass demo\n"
        "  breakglass demo --replay --keep /tmp/bg-demo\n"
        "  breakglass demo --build-control-plane      # builds kube-apiserver first (minutes)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--replay",
        dest="mode",
        action="store_const",
        const="replay",
        help="replay recorded API-server payloads even when a control plane is available",
    )
    mode.add_argument(
        "--cluster",
        dest="mode",
        action="store_const",
        const="cluster",
        help="require the real control plane (fail instead of replaying)",
    )
    parser.set_defaults(mode="auto")
    parser.add_argument(
        "--build-control-plane",
        action="store_true",
        help="build kube-apiserver, kubectl and etcd if they are not cached (needs Go)",
    )
    parser.add_argument(
        "--keep", metavar="DIR", type=Path, help="leave everything in DIR instead of cleaning up"
    )
    parser.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for the backfill (90)"
    )


def run(args: argparse.Namespace) -> int:
    from breakglass import demo  # the demo's own dependencies, loaded when it runs

    return demo.run(
        demo.Options(
            mode=args.mode,
            build_control_plane=args.build_control_plane,
            keep=args.keep,
            timeout=args.timeout,
        )
    )
