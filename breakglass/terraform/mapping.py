"""Which text in the repository sets each drifted attribute, and the edit that makes it say
what the world now is, or why no edit is safe.

The plan's ``configuration`` section says, for every argument of every resource, whether the
code sets it as a constant (``constant_value``) or through references; the provider's schema
says which attributes the provider computes.  From those and the HCL syntax tree of the
module's files, each drifted attribute is mapped to exactly one of:

* a literal argument (or nested block's argument) of the resource;
* a variable's value, when the argument is exactly ``var.x`` (or a path into it) and nothing
  else in the module uses ``var.x``: the last of ``-var-file``, ``*.auto.tfvars``,
  ``terraform.tfvars`` and the ``default`` that sets it (the precedence OpenTofu uses), or,
  in a child module, the literal input of the calling ``module`` block (followed up while it
  is itself exactly ``var.y``);
* the literal ``for_each`` map entry of the instance, for ``each.value`` (or a path into it).

Everything else is refused with the reason a reviewer needs: locals, expressions and function
calls, variables used more than once, arguments shared by every instance of a ``count`` or
``for_each`` resource or module, ``dynamic`` blocks, modules from outside the repository,
values given at run time, sensitive values, attributes the code does not set.  Attributes the
provider computes and the code does not set are ignored (``plan`` does not undo them).

A resource is ready for a pull request only when every attribute that drifted is mapped; one
refusal sends the whole resource to a human, so a pull request never half-describes an object.

Pure: the decoded plan sections and parsed files go in, edits and reasons come out.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breakglass.terraform.drift import ABSENT, Change, Path, ResourceDrift, path_text
from breakglass.terraform.hcl import Block, Body, Document, Expr, NotLiteral
from breakglass.terraform.hcledit import Edit, replace_value


@dataclass(frozen=True)
class Target:
    """The literal an attribute's value lives in, and the path inside it."""

    document: Document
    expr: Expr
    inner: Path
    what: str

    @property
    def file(self) -> str:
        return self.document.path

    @property
    def line(self) -> int:
        return self.expr.line


@dataclass(frozen=True)
class Mapped:
    """Drifted leaves of one attribute, and where the code now says their new values."""

    attribute: str
    path: Path
    changes: tuple[Change, ...]
    target: Target


@dataclass(frozen=True)
class Refused:
    attribute: str
    changes: tuple[Change, ...]
    reason: str


@dataclass(frozen=True)
class Decision:
    """What can be done about one drifted resource."""

    drift: ResourceDrift
    mapped: tuple[Mapped, ...] = ()
    refused: tuple[Refused, ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """Every drifted attribute is mapped (and there is at least one)."""
        return bool(self.mapped) and not self.refused

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(m.attribute for m in self.mapped) + tuple(r.attribute for r in self.refused)


@dataclass(frozen=True)
class Module:
    """One module of the configuration as the mapping sees it."""

    config: Mapping[str, Any]
    #: repository-relative directory, ``None`` for a module from outside the repository
    directory: str | None
    call: tuple[str, ...]
    #: the ``source`` of the innermost call (``""`` for the root module)
    source: str = ""


@dataclass
class Workspace:
    """The repository's side: parsed files and how the root is run."""

    #: repository-relative path → parsed file, for every ``.tf`` and ``.tfvars`` file read
    files: Mapping[str, Document]
    root: str
    #: ``-var-file`` arguments, repository-relative, in the order they are passed
    var_files: Sequence[str] = ()
    #: environment variable names the binary gets (``TF_VAR_x`` among them sets ``var.x``)
    env: Sequence[str] = ()
    #: files that could not be parsed: path → message
    broken: Mapping[str, str] = field(default_factory=dict)

    _files: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _blocks: dict[str, dict[tuple[str, ...], list[tuple[str, Block]]]] = field(
        default_factory=dict, repr=False
    )
    _uses: dict[str, dict[str, list[str]]] = field(default_factory=dict, repr=False)

    def module_files(self, directory: str) -> list[str]:
        """The module's ``.tf`` files, in name order (read once per directory)."""
        if directory not in self._files:
            self._files[directory] = sorted(
                path
                for path in self.files
                if posixpath.dirname(path) == directory and path.endswith(".tf")
            )
        return self._files[directory]

    def top_blocks(self, directory: str, kind: str, *labels: str) -> list[tuple[str, Block]]:
        """The module's top-level blocks of ``kind`` with exactly ``labels``, and their files."""
        if directory not in self._blocks:
            index: dict[tuple[str, ...], list[tuple[str, Block]]] = {}
            for path in self.module_files(directory):
                for block in self.files[path].body.blocks():
                    index.setdefault((block.type, *block.labels), []).append((path, block))
            self._blocks[directory] = index
        return self._blocks[directory].get((kind, *labels), [])

    def variable_uses(self, directory: str, variable: str) -> list[str]:
        """The files of the module that use ``var.<variable>``, once per use."""
        if directory not in self._uses:
            uses: dict[str, list[str]] = {}
            for path in self.module_files(directory):
                for steps, _span in self.files[path].references():
                    if len(steps) >= 2 and steps[0] == "var":
                        uses.setdefault(steps[1], []).append(path)
            self._uses[directory] = uses
        return self._uses[directory].get(variable, [])


class _Refusal(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def module_directory(parent: str | None, source: str) -> str | None:
    """The repository directory of a module called with ``source`` from ``parent`` ("" is the
    repository's top); ``None`` for a module from elsewhere (a registry, Git, a path that
    leaves the repository)."""
    if parent is None or not source.startswith(("./", "../")):
        return None
    joined = posixpath.normpath(posixpath.join(parent, source))
    if joined == ".":
        return ""
    return None if joined == ".." or joined.startswith("../") else joined


def module_of(config: Mapping[str, Any], root: str, calls: Sequence[str]) -> Module:
    """The configuration of the module reached through ``calls`` from the root module."""
    module = config.get("root_module") or {}
    directory: str | None = root
    source = ""
    for name in calls:
        call = (module.get("module_calls") or {}).get(name)
        if not isinstance(call, Mapping):
            raise _Refusal(f"module.{name} is not in the configuration")
        source = str(call.get("source", ""))
        directory = module_directory(directory, source)
        module = call.get("module") or {}
    return Module(config=module, directory=directory, call=tuple(calls), source=source)


def _resources(module: Module) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The module's managed resources in the configuration, by type and name."""
    return {
        (str(entry.get("type")), str(entry.get("name"))): entry
        for entry in module.config.get("resources") or ()
        if entry.get("mode", "managed") == "managed"
    }


def _attribute_schema(
    block: Mapping[str, Any], path: Path
) -> tuple[int, Mapping[str, Any], tuple[tuple[str, str], ...]] | None:
    """How many steps of ``path`` lead to an attribute, its schema, and the nested block
    types (with their nesting mode) on the way."""
    index = 0
    nesting: list[tuple[str, str]] = []
    while index < len(path):
        step = path[index]
        if not isinstance(step, str):
            return None
        attributes = block.get("attributes") or {}
        if step in attributes:
            return index + 1, attributes[step], tuple(nesting)
        block_type = (block.get("block_types") or {}).get(step)
        if not isinstance(block_type, Mapping):
            return None
        mode = str(block_type.get("nesting_mode", "list"))
        nesting.append((step, mode))
        block = block_type.get("block") or {}
        index += 1
        if mode in ("list", "set", "map") and index < len(path):
            index += 1  # the element index (or map key)
    return None


def _not_attribute(schema: Mapping[str, Any], change: Change) -> str:
    """Why a drifted path is not one attribute: blocks added or removed, or unknown."""
    block: Mapping[str, Any] = schema.get("block") or {}
    for step in change.path:
        if not isinstance(step, str):
            continue
        block_type = (block.get("block_types") or {}).get(step)
        if not isinstance(block_type, Mapping):
            break
        block = block_type.get("block") or {}
    else:
        before = len(change.before) if isinstance(change.before, list) else 0
        after = len(change.after) if isinstance(change.after, list) else 0
        what = "added" if after > before else "removed" if after < before else "changed"
        return (
            f"{path_text(change.path)} blocks were {what} ({before} → {after}); breakglass "
            "edits the arguments of blocks the code has, it does not add or remove blocks"
        )
    return "not an attribute of the provider's schema"


def _expression(resource: Mapping[str, Any], path: Path) -> Mapping[str, Any] | None:
    """The configuration's expression for the attribute at ``path`` (``None``: not set)."""
    node: Any = resource.get("expressions") or {}
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
            node = node[step]
        else:
            if not isinstance(node, Mapping) or step not in node:
                return None
            node = node[step]
    return node if isinstance(node, Mapping) else None


def _find_block(workspace: Workspace, directory: str, kind: str, *labels: str) -> tuple[str, Block]:
    found = workspace.top_blocks(directory, kind, *labels)
    if len(found) != 1:
        name = " ".join(f'"{label}"' for label in labels)
        where = f"{directory or '.'}/*.tf"
        if not found:
            raise _Refusal(f"no {kind} {name} block in {where}")
        raise _Refusal(f"{kind} {name} is declared {len(found)} times in {where}")
    return found[0]


def _navigate(body: Body, path: Path, nesting: tuple[tuple[str, str], ...], file: str) -> Expr:
    """The expression of the attribute at ``path`` inside a resource body."""
    index = 0
    for block_type, mode in nesting:
        if body.blocks("dynamic", block_type):
            raise _Refusal(f"{block_type} blocks are generated by a dynamic block")
        blocks = body.blocks(block_type)
        position = 0
        index += 1
        if mode in ("list", "set"):
            step = path[index]
            position = step if isinstance(step, int) else 0
            index += 1
            if mode == "set" and len(blocks) > 1:
                raise _Refusal(
                    f"{block_type} is a set of {len(blocks)} blocks; which one changed cannot "
                    "be told from its position"
                )
        elif mode == "map":
            raise _Refusal(f"{block_type} blocks are keyed by label; not edited")
        if position >= len(blocks):
            raise _Refusal(f"the code has no {block_type} block number {position + 1}")
        body = blocks[position].body
    name = path[index]
    attribute = body.attribute(str(name))
    if attribute is None:
        raise _Refusal(f"{file} does not set {name} where the configuration says it does")
    return attribute.expr


def _literal(file: str, expr: Expr, what: str) -> Expr:
    if not expr.is_literal():
        raise _Refusal(f"{what} in {file}:{expr.line} is not a literal value")
    return expr


def _traversal_refusal(expr: Expr, file: str) -> str:
    where = f"{file}:{expr.line}"
    steps = expr.traversal()
    if steps is None:
        flat = " ".join(expr.text.split())
        shown = flat if len(flat) <= 60 else flat[:57] + "..."
        return (
            f"computed by the expression {shown} ({where}); breakglass rewrites literals and "
            "variables, not expressions"
        )
    name = ".".join(str(s) for s in steps)
    if steps[0] == "local":
        return f"set through {name} ({where}); a local is an expression breakglass does not rewrite"
    if steps[0] in ("var", "each", "count"):
        return f"set through {name} ({where})"
    return f"comes from another object's value, {name} ({where})"


def _descend(expr: Expr, inner: Path) -> tuple[Expr, int]:
    """Into an object constructor that is not a literal (``{ a = var.x, b = "y" }``), as far
    as ``inner`` leads through its keys: the expression that holds the leaf, and the steps used."""
    consumed = 0
    while consumed < len(inner) and not expr.is_literal():
        step = inner[consumed]
        if expr.kind == "object" and isinstance(step, str):
            item = next((i for i in expr.items() if i.key == step), None)
            if item is None:
                break
            expr = item.value
        elif expr.kind == "tuple" and isinstance(step, int) and step < len(expr.elements()):
            expr = expr.elements()[step]
        else:
            break
        consumed += 1
    return expr, consumed


class _Mapper:
    def __init__(
        self,
        workspace: Workspace,
        configuration: Mapping[str, Any],
        schemas: Mapping[str, Any],
    ) -> None:
        self.workspace = workspace
        self.configuration = configuration
        self.schemas = schemas
        self._resources: dict[int, dict[tuple[str, str], Mapping[str, Any]]] = {}

    def _resource(self, module: Module, drift: ResourceDrift) -> Mapping[str, Any]:
        key = id(module.config)
        if key not in self._resources:
            self._resources[key] = _resources(module)
        found = self._resources[key].get((drift.type, drift.name))
        if found is None:
            raise _Refusal(f"{drift.config_address} is not in the configuration")
        return found

    def _callers(self, directory: str | None) -> list[str]:
        """Every module call in the configuration whose code is ``directory``."""
        found: list[str] = []

        def walk(module: Mapping[str, Any], where: str | None, prefix: str) -> None:
            for name, call in (module.get("module_calls") or {}).items():
                child = module_directory(where, str(call.get("source", "")))
                address = f"{prefix}module.{name}"
                if child is not None and child == directory:
                    found.append(address)
                walk(call.get("module") or {}, child, address + ".")

        walk(self.configuration.get("root_module") or {}, self.workspace.root, "")
        return found

    def _doc(self, file: str) -> Document:
        return self.workspace.files[file]

    # -- variables and module inputs ---------------------------------------------------------

    def _variable(self, module: Module, name: str, inner: Path) -> Target:
        """Where the value of ``var.<name>`` of ``module`` is written (a literal)."""
        declared = (module.config.get("variables") or {}).get(name)
        if not isinstance(declared, Mapping):
            raise _Refusal(f"var.{name} is not declared")
        if declared.get("sensitive"):
            raise _Refusal(f"var.{name} is sensitive; its value is never written or shown")
        if module.directory is None:
            raise _Refusal(f"var.{name} belongs to a module from outside the repository")
        uses = self.workspace.variable_uses(module.directory, name)
        if len(uses) > 1:
            raise _Refusal(
                f"var.{name} is used {len(uses)} times ({', '.join(sorted(set(uses)))}); "
                "changing it would change more than this attribute"
            )
        if not module.call:
            return self._root_variable(module.directory, name, inner)
        parent = module_of(self.configuration, self.workspace.root, module.call[:-1])
        call_name = module.call[-1]
        call = (parent.config.get("module_calls") or {}).get(call_name) or {}
        if call.get("count_expression") or call.get("for_each_expression"):
            raise _Refusal(
                f"module.{call_name} has count or for_each: its inputs are shared by every instance"
            )
        if parent.directory is None:
            raise _Refusal(f"module.{call_name} is called from outside the repository")
        file, block = _find_block(self.workspace, parent.directory, "module", call_name)
        attribute = block.body.attribute(name)
        if attribute is None:
            raise _Refusal(
                f"module.{call_name} does not set {name} ({file}:{block.line}); the module's "
                "default is shared by every caller"
            )
        steps = attribute.expr.traversal()
        if steps is not None and len(steps) >= 2 and steps[0] == "var":
            return self._variable(parent, str(steps[1]), (*steps[2:], *inner))
        what = f"the input {name} of module.{call_name}"
        return Target(self._doc(file), _literal(file, attribute.expr, what), inner, what)

    def _root_variable(self, directory: str, name: str, inner: Path) -> Target:
        if f"TF_VAR_{name}" in self.workspace.env:
            raise _Refusal(f"var.{name} is set by the environment variable TF_VAR_{name}")
        auto = sorted(
            path
            for path in [*self.workspace.files, *self.workspace.broken]
            if posixpath.dirname(path) == directory
            and path.endswith((".auto.tfvars", ".auto.tfvars.json"))
        )
        defaults = [posixpath.join(directory, "terraform.tfvars")]
        order = [*reversed(self.workspace.var_files), *reversed(auto), *defaults]
        for file in order:
            if file.endswith(".json"):
                if file in self.workspace.broken or file in self.workspace.files:
                    raise _Refusal(f"var.{name} may be set in {file}; JSON files are not edited")
                continue
            if file in self.workspace.broken:
                raise _Refusal(f"{file} does not parse: {self.workspace.broken[file]}")
            doc = self.workspace.files.get(file)
            if doc is None:
                continue
            attribute = doc.body.attribute(name)
            if attribute is not None:
                what = f"{name} in {posixpath.basename(file)}"
                return Target(self._doc(file), _literal(file, attribute.expr, what), inner, what)
        file, block = _find_block(self.workspace, directory, "variable", name)
        default = block.body.attribute("default")
        if default is None:
            raise _Refusal(
                f"var.{name} has no default and no .tfvars file sets it: its value is given "
                "at run time"
            )
        what = f"the default of variable {name}"
        return Target(self._doc(file), _literal(file, default.expr, what), inner, what)

    # -- one attribute -------------------------------------------------------------------------

    def targets(
        self,
        drift: ResourceDrift,
        module: Module,
        resource: Mapping[str, Any],
        attribute: Path,
        nesting: tuple[tuple[str, str], ...],
        leaves: Sequence[Change],
    ) -> tuple[list[tuple[Path, Target, list[Change]]], list[tuple[Change, str]]]:
        """Where each leaf of one attribute is written: ``(path, target, leaves)`` groups,
        ``path`` being the attribute's path plus the object keys descended into; and the
        leaves that cannot be written, each with its own reason (one key of a map set by a
        function call does not hold back its literal neighbours)."""
        if module.directory is None:
            raise _Refusal(
                f"it is in module.{'.module.'.join(module.call)}, whose source {module.source} "
                "is outside the repository; only modules in the repository are edited"
            )
        if any(key is not None for key in drift.module_keys):
            raise _Refusal("its module has count or for_each: the code is shared by every instance")
        file, block = _find_block(
            self.workspace, module.directory, "resource", drift.type, drift.name
        )
        top = _navigate(block.body, attribute, nesting, file)
        groups: dict[tuple[int, int], tuple[Path, Target, list[Change]]] = {}
        refused: list[tuple[Change, str]] = []
        for leaf in leaves:
            expr, consumed = _descend(top, leaf.path[len(attribute) :])
            try:
                target = self._target(drift, module, resource, block, file, expr)
            except _Refusal as refusal:
                refused.append((leaf, refusal.reason))
                continue
            key = (target.expr.span.start, target.expr.span.end)
            path = (*attribute, *leaf.path[len(attribute) : len(attribute) + consumed])
            groups.setdefault(key, (path, target, []))[2].append(leaf)
        return list(groups.values()), refused

    def _target(
        self,
        drift: ResourceDrift,
        module: Module,
        resource: Mapping[str, Any],
        block: Block,
        file: str,
        expr: Expr,
    ) -> Target:
        repeated = resource.get("count_expression") or resource.get("for_each_expression")
        steps = expr.traversal()
        if module.call and (expr.is_literal() or (steps and steps[:2] == ("each", "value"))):
            callers = self._callers(module.directory)
            if len(callers) > 1:
                raise _Refusal(
                    f"the code of {module.directory}/ is shared by {len(callers)} module calls "
                    f"({', '.join(callers)}); changing it would change all of them"
                )
        if expr.is_literal():
            if repeated:
                raise _Refusal(
                    f"{drift.config_address} has count or for_each: this literal is shared by "
                    "every instance"
                )
            what = f"the argument in resource {drift.type}.{drift.name}"
            return Target(self._doc(file), expr, (), what)
        if steps and steps[0] == "var" and len(steps) >= 2:
            if repeated:
                raise _Refusal(
                    f"{drift.config_address} has count or for_each: var.{steps[1]} is shared "
                    "by every instance"
                )
            return self._variable(module, str(steps[1]), tuple(steps[2:]))
        if steps and steps[:2] == ("each", "value"):
            return self._each_value(drift, module, block, file, tuple(steps[2:]))
        raise _Refusal(_traversal_refusal(expr, file))

    def _dynamic(
        self, drift: ResourceDrift, module: Module, nesting: tuple[tuple[str, str], ...]
    ) -> str | None:
        """Why an attribute the configuration does not show is there after all: a ``dynamic``
        block on its way (``show -json`` leaves those out)."""
        if module.directory is None:
            return None
        try:
            file, block = _find_block(
                self.workspace, module.directory, "resource", drift.type, drift.name
            )
        except _Refusal:
            return None
        bodies = [block.body]
        for block_type, _mode in nesting:
            for body in bodies:
                dynamic = body.blocks("dynamic", block_type)
                if dynamic:
                    return (
                        f'generated by a dynamic "{block_type}" block ({file}:{dynamic[0].line}); '
                        "breakglass does not rewrite dynamic blocks"
                    )
            bodies = [b.body for body in bodies for b in body.blocks(block_type)]
        return None

    def _each_value(
        self, drift: ResourceDrift, module: Module, block: Block, file: str, inner: Path
    ) -> Target:
        if not isinstance(drift.key, str):
            raise _Refusal("each.value without a for_each key")
        for_each = block.body.attribute("for_each")
        if for_each is None:
            raise _Refusal("each.value outside a for_each resource")
        expr = for_each.expr
        steps = expr.traversal()
        if steps and steps[0] == "var" and len(steps) >= 2:
            return self._variable(module, str(steps[1]), (*steps[2:], drift.key, *inner))
        if not expr.is_literal() or expr.kind != "object":
            raise _Refusal(
                f"the for_each of {drift.config_address} ({file}:{expr.line}) is not a literal map"
            )
        what = f'the for_each entry "{drift.key}" of {drift.type}.{drift.name}'
        return Target(self._doc(file), expr, (drift.key, *inner), what)

    def decide(self, drift: ResourceDrift) -> Decision:
        if drift.deleted:
            return Decision(
                drift,
                refused=(
                    Refused(
                        "(the whole resource)",
                        (),
                        "deleted outside OpenTofu/Terraform: plan would create it again; "
                        "either apply to recreate it or remove it from the code (and the state)",
                    ),
                ),
            )
        try:
            module = module_of(self.configuration, self.workspace.root, drift.module)
            resource = self._resource(module, drift)
        except _Refusal as refusal:
            return Decision(
                drift, refused=(Refused("(the whole resource)", drift.changes, refusal.reason),)
            )
        schema = (
            ((self.schemas.get("provider_schemas") or {}).get(drift.provider) or {}).get(
                "resource_schemas"
            )
            or {}
        ).get(drift.type) or {}
        groups: dict[Path, list[Change]] = {}
        shapes: dict[Path, tuple[Mapping[str, Any], tuple[tuple[str, str], ...]]] = {}
        refused: list[Refused] = []
        ignored: list[str] = []
        for change in drift.changes:
            found = _attribute_schema(schema.get("block") or {}, change.path)
            if found is None:
                refused.append(
                    Refused(path_text(change.path), (change,), _not_attribute(schema, change))
                )
                continue
            length, attribute_schema, nesting = found
            attribute = change.path[:length]
            groups.setdefault(attribute, []).append(change)
            shapes[attribute] = (attribute_schema, nesting)
        mapped: list[Mapped] = []
        for attribute, leaves in groups.items():
            attribute_schema, nesting = shapes[attribute]
            name = path_text(attribute)
            computed = bool(attribute_schema.get("computed"))
            optional = bool(attribute_schema.get("optional") or attribute_schema.get("required"))
            expression = _expression(resource, attribute)
            if expression is None or (
                "constant_value" not in expression
                and not expression.get("references")
                and computed
                and not optional
            ):
                if computed:
                    ignored.append(name)
                    continue
                dynamic = self._dynamic(drift, module, nesting)
                if dynamic is not None:
                    refused.append(Refused(name, tuple(leaves), dynamic))
                    continue
                refused.append(
                    Refused(
                        name,
                        tuple(leaves),
                        f"the code does not set {name}; plan would take the change back. If "
                        "it should stay, a human adds it to the code",
                    )
                )
                continue
            if attribute_schema.get("sensitive") or any(leaf.sensitive for leaf in leaves):
                refused.append(
                    Refused(name, tuple(leaves), "sensitive: never written, shown or stored")
                )
                continue
            try:
                found_targets, leaf_refusals = self.targets(
                    drift, module, resource, attribute, nesting, leaves
                )
            except _Refusal as refusal:
                refused.append(Refused(name, tuple(leaves), refusal.reason))
                continue
            for path, target, group in found_targets:
                mapped.append(Mapped(name, path, tuple(group), target))
            by_reason: dict[str, list[Change]] = {}
            for leaf, reason in leaf_refusals:
                by_reason.setdefault(reason, []).append(leaf)
            refused.extend(Refused(name, tuple(group), why) for why, group in by_reason.items())
        return Decision(drift, tuple(mapped), tuple(refused), tuple(ignored))


def decide(
    drifts: Iterable[ResourceDrift],
    configuration: Mapping[str, Any],
    schemas: Mapping[str, Any],
    workspace: Workspace,
) -> list[Decision]:
    """A decision per drifted resource (resources where only computed attributes moved are
    left out)."""
    mapper = _Mapper(workspace, configuration, schemas)
    decisions = []
    for drift in drifts:
        decision = mapper.decide(drift)
        if decision.mapped or decision.refused:
            decisions.append(decision)
    return decisions


# -- the edits ---------------------------------------------------------------------------------


def _put(value: object, path: Path, new: object) -> object:
    """``value`` with the leaf at ``path`` replaced by ``new`` (``ABSENT`` removes it)."""
    if not path:
        return new
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        items = list(value) if isinstance(value, list) else []
        if step >= len(items):
            raise _Refusal("a list grew at an index the code does not have")
        items[step] = _put(items[step], rest, new)
        return items
    mapping = dict(value) if isinstance(value, Mapping) else {}
    if new is ABSENT and not rest:
        mapping.pop(step, None)
        return mapping
    mapping[step] = _put(mapping.get(step), rest, new)
    return mapping


def edits(
    decisions: Iterable[Decision],
) -> tuple[dict[str, list[Edit]], list[tuple[Decision, str]], list[Decision]]:
    """The edits per file for the ready decisions; the decisions whose edit could not be made
    (with why); and those the code already says (no edit needed: merged, not yet applied).
    Several attributes that live in one literal are edited together."""
    by_target: dict[
        tuple[str, int, int], tuple[Target, list[tuple[Path, object]], list[Decision]]
    ] = {}
    for decision in decisions:
        if not decision.ready:
            continue
        for mapped in decision.mapped:
            target = mapped.target
            key = (target.file, target.expr.span.start, target.expr.span.end)
            entry = by_target.setdefault(key, (target, [], []))
            for change in mapped.changes:
                entry[1].append((target.inner + change.path[len(mapped.path) :], change.after))
            entry[2].append(decision)
    out: dict[str, list[Edit]] = {}
    failed: list[tuple[Decision, str]] = []
    editing: set[int] = set()
    for (file, _start, _end), (target, leaves, owners) in by_target.items():
        try:
            value = target.expr.value()
            for path, new in leaves:
                value = _put(value, path, new)
            made = replace_value(target.document, target.expr, value)
        except (_Refusal, NotLiteral, ValueError) as exc:
            reason = exc.reason if isinstance(exc, _Refusal) else str(exc)
            where = f"{target.what} ({file}:{target.line})"
            failed.extend((owner, f"{where}: {reason}") for owner in owners)
            continue
        if made:
            out.setdefault(file, []).extend(made)
            editing.update(id(owner) for owner in owners)
    bad = {id(d) for d, _ in failed}
    in_code = [d for d in decisions if d.ready and id(d) not in bad and id(d) not in editing]
    return out, failed, in_code


def shown(value: object) -> str:
    """A short, one-line rendering of a (non-sensitive) value for a table or a PR body."""
    if value is ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
