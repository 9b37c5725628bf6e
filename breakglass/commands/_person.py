"""What the commands a person runs with their own identity share (``drill``, ``open``,
``close``, ``sessions``): the ``--kubeconfig``/``--context`` flags and the connection."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from breakglass.errors import InputError

if TYPE_CHECKING:
    from breakglass.kube import KubeCluster


def add_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help=f"whose identity {what}: this kubeconfig (default: $KUBECONFIG, then "
        "~/.kube/config), not breakglass's own kube: settings",
    )
    parser.add_argument("--context", metavar="NAME", help="the kubeconfig context to use")


def default_kubeconfig() -> str | None:
    env = os.environ.get("KUBECONFIG", "")
    first = env.split(os.pathsep)[0] if env else os.path.expanduser("~/.kube/config")
    return first if first and os.path.exists(first) else None


async def connect(args: argparse.Namespace, *, what: str) -> KubeCluster:
    from breakglass.kube import KubeCluster

    kubeconfig = args.kubeconfig or default_kubeconfig()
    if kubeconfig is None:
        raise InputError(
            f"{what} as you, and no kubeconfig was found",
            hint="pass --kubeconfig (and --context), or set KUBECONFIG",
        )
    return await KubeCluster.connect(kubeconfig=kubeconfig, context=args.context)
