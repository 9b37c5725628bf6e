"""``breakglass backfill``: write one manual change into a GitOps checkout, from the shell.

The command is the engine's face for people and scripts: it reads the two versions of the
object, runs ``breakglass.gitops.engine`` against the checkout and, only when the engine
returns file changes, writes them (each file replaced atomically).  Exit codes are a contract
that tests and the worker rely on: 0 files changed, 1 nothing to change, 2 bad input,
3 the change cannot be expressed in this repository (nothing written).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from breakglass import errors, sopsexec
from breakglass.gitops import engine, index, sops

JSON = Any

NAME = "backfill"
SUMMARY = "write one manual change into a GitOps checkout"

#: Largest OLD/NEW file accepted (the API server caps objects at about 1.5 MiB).
MAX_INPUT_BYTES = 8 * 1024 * 1024

DESCRIPTION = """\
Write a manual change to a Kubernetes object into the GitOps repository that owns it.

OLD and NEW are the object before and after the change, as the API server serves it
(`kubectl get -o yaml`, YAML or JSON). Leave out --new for a deletion, --old for a creation.
Only the human's delta is written: status, managedFields, defaults and controller metadata
are ignored, and the files keep their comments, quoting and layout.

exit codes:
  0  files changed; stdout is JSON {"changed": [paths], "notes": [...]}
  1  nothing to change (Git already says this)
  2  bad input (which file, what is wrong)
  3  the change cannot be expressed in this repository; stderr says why and shows the
     delta, and nothing is written

Secret values are never written in the clear. When the repository keeps a Secret
SOPS-encrypted (a `.sops.yaml` whose creation rule names age recipients), the file is
encrypted again with the `sops` binary for those recipients, using the values in NEW;
anything else about a Secret's values exits 3 and says why.
"""

EPILOG = """\
examples:
  kubectl get deploy/checkout -n payments -o yaml > before.yaml
  kubectl scale deploy/checkout -n payments --replicas=6
  kubectl get deploy/checkout -n payments -o yaml > after.yaml
  breakglass backfill --repo ./gitops --path apps/checkout/overlays/prod \\
      --old before.yaml --new after.yaml
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.add_argument("--repo", required=True, metavar="DIR", help="the Git checkout to edit")
    parser.add_argument("--old", metavar="OLD", help="the object before the change")
    parser.add_argument("--new", metavar="NEW", help="the object after the change")
    parser.add_argument(
        "--path",
        metavar="SUBDIR",
        default="",
        help="where the application lives in the repo (Argo CD / Flux path); default: all",
    )
    parser.add_argument(
        "--sops",
        metavar="BINARY",
        help=f"the sops binary for SOPS-encrypted Secrets (default: ${sopsexec.BINARY_ENV}, "
        "else sops on PATH)",
    )


def load_object(path: str, *, label: str) -> JSON:
    """One object from a YAML or JSON file, or an ``InputError`` naming the file."""
    try:
        size = os.path.getsize(path)
        if size > MAX_INPUT_BYTES:
            raise errors.InputError(f"{label} {path}: {size} bytes is more than an object can be")
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except errors.InputError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise errors.InputError(f"{label} {path}: cannot read ({reason})") from None
    try:
        docs = index.load_plain(path, text)
    except (index.YamlError, RecursionError) as exc:
        raise errors.InputError(f"{label} {path}: not YAML or JSON ({exc})") from None
    if len(docs) != 1:
        raise errors.InputError(f"{label} {path}: expected one object, found {len(docs)}")
    return engine.check_object(docs[0], label=f"{label} {path}")


def run(args: argparse.Namespace) -> int:
    repo = Path(args.repo)
    if not repo.is_dir():
        raise errors.InputError(f"--repo {args.repo}: not a directory")
    if not args.old and not args.new:
        raise errors.InputError("give --old, --new, or both (one is enough for delete/create)")
    old = load_object(args.old, label="OLD") if args.old else None
    new = load_object(args.new, label="NEW") if args.new else None
    idx = index.Index.build(repo)
    result = engine.backfill(
        idx, old, new, subpath=args.path or "", secrets=_secrets(repo, new, args.sops)
    )
    if isinstance(result, engine.CannotExpress):
        print(f"cannot backfill: {result.reason}", file=sys.stderr)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        print(result.delta, file=sys.stderr)
        return 3
    if isinstance(result, engine.NoChange):
        print(f"nothing to change: {result.reason}", file=sys.stderr)
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        return 1
    write_files(idx, result.files)
    print(json.dumps({"changed": sorted(result.files), "notes": list(result.notes)}, indent=2))
    return 0


def _secrets(repo: Path, new: JSON | None, binary: str | None) -> sops.Secrets | None:
    """NEW's values and the sops binary, for a Secret the repository keeps encrypted."""
    if new is None or new.get("kind") != "Secret" or new.get("apiVersion") != "v1":
        return None
    if binary and sopsexec.find_binary(binary) is None:
        raise errors.InputError(f"--sops {binary}: not an executable file")
    values = sops.values_of(new)
    return sops.Secrets(values, sopsexec.Sops(repo, sopsexec.find_binary(binary), values))


def write_files(idx: index.Index, files: dict[str, str | None]) -> None:
    """Write (atomically) or delete each file; every path must stay inside the repository."""
    for path in files:
        idx.resolve(path)
    for path, text in sorted(files.items()):
        full = idx.resolve(path)
        if text is None:
            full.unlink()
            continue
        full.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=full.parent, prefix=".breakglass-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
                out.write(text)
            if full.exists():
                os.chmod(temp, full.stat().st_mode & 0o7777)
            os.replace(temp, full)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
