"""Plans for the mapping tests: the ``configuration`` section derived from HCL the way
``tofu show -json`` writes it, and ``resource_drift`` entries from before/after values.

``show -json`` gives an argument ``constant_value`` when it evaluates without any context (a
literal; a function call does not), and ``references`` (each traversal and its prefixes)
otherwise; nested blocks are lists of such maps; ``count``/``for_each`` become
``count_expression``/``for_each_expression``; module calls carry ``source``, their inputs and
the called module.  The recorded plan in ``fixtures/recorded`` is the real thing these mirror.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from breakglass.terraform.hcl import Body, Document, Expr

FIXTURES = Path(__file__).parent / "fixtures"
PROVIDER = "registry.opentofu.org/hashicorp/kubernetes"
_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "source", "version"}


def schemas() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "kubernetes-1.13.4-schema.json").read_text())
    return data


def _expression(expr: Expr) -> dict[str, Any]:
    if expr.is_literal():
        return {"constant_value": expr.value()}
    refs = []
    steps = expr.traversal()
    if steps is not None:
        for end in range(len(steps), 1, -1):
            refs.append(".".join(steps[:end]))
    return {"references": refs} if refs else {}


def _body(body: Body) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute in body.attributes():
        if attribute.name not in _META:
            out[attribute.name] = _expression(attribute.expr)
    for block in body.blocks():
        if block.type in ("dynamic", "lifecycle", "provisioner", "connection"):
            continue
        out.setdefault(block.type, []).append(_body(block.body))
    return out


def configuration(files: Mapping[str, str], directory: str = "") -> dict[str, Any]:
    """The configuration section for the root module in ``directory``."""
    return {"root_module": _module(files, directory)}


def _module(files: Mapping[str, str], directory: str) -> dict[str, Any]:
    """One module's part of the configuration section (its ``.tf`` files)."""
    docs = [
        Document.parse(text, path=path)
        for path, text in sorted(files.items())
        if posixpath.dirname(path) == directory and path.endswith(".tf")
    ]
    module: dict[str, Any] = {"resources": [], "variables": {}, "module_calls": {}}
    for doc in docs:
        for block in doc.body.blocks("resource"):
            type_, name = block.labels
            entry: dict[str, Any] = {
                "address": f"{type_}.{name}",
                "mode": "managed",
                "type": type_,
                "name": name,
                "provider_config_key": "kubernetes",
                "expressions": _body(block.body),
                "schema_version": 0,
            }
            for meta in ("count", "for_each"):
                attribute = block.body.attribute(meta)
                if attribute is not None:
                    entry[f"{meta}_expression"] = _expression(attribute.expr)
            module["resources"].append(entry)
        for block in doc.body.blocks("variable"):
            variable: dict[str, Any] = {}
            default = block.body.attribute("default")
            if default is not None:
                variable["default"] = default.expr.value()
            sensitive = block.body.attribute("sensitive")
            if sensitive is not None and sensitive.expr.value() is True:
                variable["sensitive"] = True
            module["variables"][block.labels[0]] = variable
        for block in doc.body.blocks("module"):
            source = block.body.attribute("source")
            assert source is not None
            path = str(source.expr.value())
            call: dict[str, Any] = {"source": path, "expressions": _body(block.body)}
            for meta in ("count", "for_each"):
                attribute = block.body.attribute(meta)
                if attribute is not None:
                    call[f"{meta}_expression"] = _expression(attribute.expr)
            if path.startswith(("./", "../")):
                child = posixpath.normpath(posixpath.join(directory, path))
                call["module"] = _module(files, "" if child == "." else child)
            else:  # where init downloads a module from elsewhere
                downloaded = posixpath.join(directory, ".terraform/modules", block.labels[0])
                call["module"] = _module(files, downloaded.lstrip("/"))
            module["module_calls"][block.labels[0]] = call
    return module


def drift(
    address: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    before_sensitive: Any = None,
    after_sensitive: Any = None,
) -> dict[str, Any]:
    """One ``resource_drift`` entry for a managed resource of the kubernetes provider."""
    last = address.rsplit(".", 2)[-2:]
    type_, name = last[0], last[1].split("[", 1)[0]
    return {
        "address": address,
        "mode": "managed",
        "type": type_,
        "name": name,
        "provider_name": PROVIDER,
        "change": {
            "actions": ["delete"] if after is None else ["update"],
            "before": before,
            "after": after,
            "after_unknown": {},
            "before_sensitive": before_sensitive if before_sensitive is not None else {},
            "after_sensitive": after_sensitive if after_sensitive is not None else {},
        },
    }
