"""Apply a human's change to one YAML document by splicing its text.

A change arrives as the sparse ``(before, after)`` pair from ``breakglass.delta``; this module
turns it into small operations on paths (set a value, remove a key or list item, add a list
item) and applies them twice: to the plain data (the *expected* result) and to the document's
text, one splice at a time, re-reading the text after each splice.  The text result is then
read back and compared with the expected data; a mismatch is an ``EditError`` rather than a
wrong file.  Lines that no operation touches are never rewritten, so comments, quoting, key
order and the other documents of the file stay exactly as they were.

Paths are tuples of steps: a mapping key (``str``), a list index (``int``), or ``Match`` — the
list item whose merge key has a given value (``containers[name=app]``).
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from breakglass import delta
from breakglass.gitops import roundtrip
from breakglass.gitops.roundtrip import YMap, YNode, YScalar, YSeq

JSON = Any


class EditError(Exception):
    """The text cannot be edited safely (anchors, odd layout, or the result did not verify)."""


@dataclass(frozen=True)
class Match:
    """The item of a list whose ``key`` field equals ``value``."""

    key: str
    value: JSON

    def __str__(self) -> str:
        return f"[{self.key}={self.value}]"


Step = str | int | Match
Path = tuple[Step, ...]


@dataclass(frozen=True)
class SetOp:
    """Set ``path`` to ``value``; a mapping set onto a mapping merges key by key.

    ``was`` is the live value before the change, when known: for a list without a merge key
    it tells which of Git's items each live item is (the live ones carry server defaults Git
    leaves out), so only the items that really changed are edited.
    """

    path: Path
    value: JSON
    was: JSON = field(default=None, compare=False)


@dataclass(frozen=True)
class RemoveOp:
    """Remove the key or list item at ``path``; containers left empty are removed too."""

    path: Path


@dataclass(frozen=True)
class AddItemOp:
    """Append ``item`` to the list at ``path`` (merged into the item with the same key)."""

    path: Path
    item: JSON
    key: str | None = None


@dataclass(frozen=True)
class InsertOp:
    """Insert ``value`` at ``index`` of the list at ``path`` (used for list rewrites)."""

    path: Path
    index: int
    value: JSON


Op = SetOp | RemoveOp | AddItemOp | InsertOp


def format_path(path: Path) -> str:
    """``spec.template.spec.containers[name=app].image``."""
    out = ""
    for step in path:
        if isinstance(step, Match):
            out += str(step)
        elif isinstance(step, int):
            out += f"[{step}]"
        else:
            out += ("." if out else "") + step
    return out


# --------------------------------------------------------------------------------------------
# From a sparse delta to operations


def ops_from_delta(before: dict[str, JSON], after: dict[str, JSON]) -> list[Op]:
    """The operations that turn a document holding ``before`` into one holding ``after``."""
    ops: list[Op] = []
    _flatten((), before, after, ops)
    return ops


def _flatten(path: Path, before: dict[str, JSON], after: dict[str, JSON], ops: list[Op]) -> None:
    for key in [*after, *(k for k in before if k not in after)]:
        here = (*path, key)
        if key in before and key in after:
            old, new = before[key], after[key]
            if old == new:
                continue
            if isinstance(old, dict) and isinstance(new, dict):
                _flatten(here, old, new, ops)
                continue
            if isinstance(old, list) and isinstance(new, list):
                mkey = _list_key(key, old, new)
                if mkey is not None:
                    _flatten_list(here, mkey, old, new, ops)
                    continue
            ops.append(SetOp(here, copy.deepcopy(new), copy.deepcopy(old)))
        elif key in after:
            _flatten_one_side(here, key, after[key], ops, added=True)
        else:
            _flatten_one_side(here, key, before[key], ops, added=False)


def _flatten_one_side(path: Path, field: str, value: JSON, ops: list[Op], *, added: bool) -> None:
    """A key present on one side only.

    The sparse delta leaves out a nested side with nothing in it, so "only in after" may be
    new items of a list Git already has, and "only in before" may be some keys of a mapping
    that stays: mappings and keyed lists are therefore taken apart, never replaced whole.
    """
    if isinstance(value, dict) and value:
        if added:
            _flatten(path, {}, value, ops)
        else:
            _flatten(path, value, {}, ops)
        return
    if isinstance(value, list) and value:
        mkey = delta.merge_key(field, value)
        if mkey is not None:
            for item in value:
                if added:
                    ops.append(AddItemOp(path, copy.deepcopy(item), mkey))
                else:
                    ops.append(RemoveOp((*path, Match(mkey, item[mkey]))))
            return
    ops.append(SetOp(path, copy.deepcopy(value)) if added else RemoveOp(path))


def _list_key(field: str, old: list[JSON], new: list[JSON]) -> str | None:
    k_old = delta.merge_key(field, old) if old else None
    k_new = delta.merge_key(field, new) if new else None
    if old and new:
        return k_old if k_old == k_new else None
    return k_old or k_new


def _flatten_list(path: Path, key: str, old: list[JSON], new: list[JSON], ops: list[Op]) -> None:
    by_new = {json.dumps(i[key], sort_keys=True): i for i in new}
    by_old = {json.dumps(i[key], sort_keys=True): i for i in old}
    for ident, item in by_old.items():
        if ident in by_new:
            rest_old = {k: v for k, v in item.items() if k != key}
            rest_new = {k: v for k, v in by_new[ident].items() if k != key}
            _flatten((*path, Match(key, item[key])), rest_old, rest_new, ops)
    # additions before removals, so a list never empties (and moves) on the way
    for ident, item in by_new.items():
        if ident not in by_old:
            ops.append(AddItemOp(path, copy.deepcopy(item), key))
    for ident, item in by_old.items():
        if ident not in by_new:
            ops.append(RemoveOp((*path, Match(key, item[key]))))


# --------------------------------------------------------------------------------------------
# Plain data


def apply_plain(document: JSON, ops: Sequence[Op]) -> JSON:
    """``document`` with ``ops`` applied (a new value; the input is not changed)."""
    data = copy.deepcopy(document)
    for op in ops:
        _plain_one(data, op)
    return data


def _find_item(items: list[JSON], match: Match) -> int | None:
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get(match.key) == match.value:
            return index
    return None


def plain_get(data: JSON, path: Path) -> tuple[bool, JSON]:
    """``(found, value)`` at ``path``."""
    node = data
    for step in path:
        if isinstance(step, str):
            if not isinstance(node, dict) or step not in node:
                return False, None
            node = node[step]
        elif isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return False, None
            node = node[step]
        else:
            if not isinstance(node, list):
                return False, None
            index = _find_item(node, step)
            if index is None:
                return False, None
            node = node[index]
    return True, node


def _plain_container(data: JSON, path: Path, then: Step | None = None) -> JSON:
    """The container at ``path``, created (as mappings / keyed items) where missing; ``then``
    is the step that will be taken into it (a list item needs a list)."""
    node = data
    for pos, step in enumerate(path):
        nxt = path[pos + 1] if pos + 1 < len(path) else then
        fresh: JSON = [] if isinstance(nxt, Match | int) else {}
        if isinstance(step, str):
            if not isinstance(node.get(step), dict | list):
                node[step] = fresh
            node = node[step]
        elif isinstance(step, int):
            node = node[step]
        else:
            index = _find_item(node, step)
            if index is None:
                node.append({step.key: step.value})
                index = len(node) - 1
            node = node[index]
    return node


def _merge(target: dict[str, JSON], value: dict[str, JSON]) -> None:
    for key, sub in value.items():
        if isinstance(target.get(key), dict) and isinstance(sub, dict):
            _merge(target[key], sub)
        else:
            target[key] = copy.deepcopy(sub)


def _plain_one(data: JSON, op: Op) -> None:
    if isinstance(op, SetOp):
        parent = _plain_container(data, op.path[:-1], op.path[-1])
        last = op.path[-1]
        if isinstance(last, Match):
            index = _find_item(parent, last)
            if index is None:
                parent.append({last.key: last.value})
                index = len(parent) - 1
            last = index
        current = parent.get(last) if isinstance(last, str) else parent[last]
        if isinstance(current, list) and isinstance(op.value, list) and op.value:
            parent[last] = list_result(current, op.value, op.was)
        elif isinstance(current, dict) and isinstance(op.value, dict):
            _merge(current, op.value)
        else:
            parent[last] = copy.deepcopy(op.value)
    elif isinstance(op, AddItemOp):
        found, items = plain_get(data, op.path)
        if not found or not isinstance(items, list):
            _plain_one(data, SetOp(op.path, [op.item]))
            return
        if op.key is not None and isinstance(op.item, dict):
            index = _find_item(items, Match(op.key, op.item.get(op.key)))
            if index is not None:
                if isinstance(items[index], dict):
                    _merge(items[index], op.item)
                else:
                    items[index] = copy.deepcopy(op.item)
                return
        items.append(copy.deepcopy(op.item))
    elif isinstance(op, InsertOp):
        found, items = plain_get(data, op.path)
        assert found
        assert isinstance(items, list)
        items.insert(op.index, copy.deepcopy(op.value))
    else:
        _plain_remove(data, op.path)


def _plain_remove(data: JSON, path: Path) -> None:
    found, _ = plain_get(data, path)
    if not found or not path:
        return
    _, parent = plain_get(data, path[:-1])
    last = path[-1]
    if isinstance(last, Match):
        index = _find_item(parent, last)
        assert index is not None
        del parent[index]
    else:
        del parent[last]
    if not parent and len(path) > 1:
        _plain_remove(data, path[:-1])


# --------------------------------------------------------------------------------------------
# Text


def edit_text(text: str, ops: Sequence[Op]) -> str:
    """The document text with ``ops`` applied, verified against the plain result.

    Returns ``text`` itself when the operations change nothing (Git already says this).
    """
    root = roundtrip.parse_chunk(text)
    if not isinstance(root, YMap | YSeq):
        raise EditError("the document is not a mapping or a list")
    original = roundtrip.to_plain(root)
    expected = apply_plain(original, ops)
    if expected == original:
        return text
    style = roundtrip.detect_style(root)
    queue: list[_TextOp] = list(ops)
    guard = 0
    while queue:
        guard += 1
        if guard > 10_000:
            raise EditError("too many edits for one document")
        op = queue.pop(0)
        root = roundtrip.parse_chunk(text)
        assert isinstance(root, YMap | YSeq)
        text, more = _TextEdit(text, root, style).apply(op)
        queue[:0] = more
    result = roundtrip.to_plain(roundtrip.parse_chunk(text))
    if result != expected:
        raise EditError("the edited text did not read back as the intended document")
    return text


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _column(text: str, index: int) -> int:
    return index - _line_start(text, index)


class _TextEdit:
    """One operation against one parsed version of the text."""

    def __init__(self, text: str, root: YMap | YSeq, style: roundtrip.Style) -> None:
        self.text = text
        self.root = root
        self.style = style

    # -- navigation ---------------------------------------------------------------------

    def _child(self, node: YNode, step: Step) -> tuple[YScalar | None, YNode] | None:
        if isinstance(node, YMap) and isinstance(step, str):
            for key, value in node.pairs:
                if roundtrip.key_text(key) == step:
                    return key, value
            return None
        if isinstance(node, YSeq) and isinstance(step, int):
            if -len(node.items) <= step < len(node.items):
                return None, node.items[step]
            return None
        if isinstance(node, YSeq) and isinstance(step, Match):
            for item in node.items:
                if isinstance(item, YMap):
                    for key, value in item.pairs:
                        if (
                            roundtrip.key_text(key) == step.key
                            and roundtrip.to_plain(value) == step.value
                        ):
                            return None, item
            return None
        return None

    def _walk(self, path: Path) -> list[tuple[YScalar | None, YNode]]:
        """The nodes along ``path`` as far as they exist, starting with the root."""
        chain: list[tuple[YScalar | None, YNode]] = [(None, self.root)]
        node: YNode = self.root
        for step in path:
            found = self._child(node, step)
            if found is None:
                break
            if found[1].alias or found[1].anchor:
                raise EditError(
                    f"{format_path(path)} goes through a YAML anchor or alias; "
                    "editing it would change other places too"
                )
            chain.append(found)
            node = found[1]
        return chain

    # -- spans ----------------------------------------------------------------------------

    def _colon_end(self, key: YScalar) -> int:
        colon = self.text.find(":", key.end)
        return colon + 1 if colon >= 0 else key.end

    def _is_empty(self, node: YNode) -> bool:
        return (
            isinstance(node, YScalar) and node.value is None and node.text == "" and not node.style
        )

    def _content_end(self, node: YNode, key: YScalar | None = None) -> int:
        """Index just after the last character that belongs to ``node``."""
        if isinstance(node, YScalar):
            if self._is_empty(node):
                return self._colon_end(key) if key is not None else node.start
            end = node.end
            if node.style in ("|", ">"):
                while end > node.start and self.text[end - 1] in "\n\r \t":
                    end -= 1
            return end
        if isinstance(node, YMap | YSeq) and node.flow:
            return node.end
        if isinstance(node, YMap):
            if not node.pairs:
                return node.end
            last_key, last_value = node.pairs[-1]
            return self._content_end(last_value, last_key)
        assert isinstance(node, YSeq)
        if not node.items:
            return node.end
        last = node.items[-1]
        if self._is_empty(last):
            return self._dash(last) + 1
        return self._content_end(last)

    def _dash(self, item: YNode) -> int:
        index = item.start - 1
        while index >= 0 and self.text[index] in " \t":
            index -= 1
        if self._is_empty(item):
            index = self.text.rfind("-", 0, item.start)
        if index < 0 or self.text[index] != "-":
            raise EditError("cannot find the '-' of a list item")
        return index

    def _item_has_comment(self, node: YSeq, index: int) -> bool:
        """Whether block-list item ``index`` has comment lines right above its dash."""
        if index >= len(node.items) or node.flow:
            return False
        dash = self._dash(node.items[index])
        line = _line_start(self.text, dash)
        return self._with_comments_above(line, dash - line) != line

    def _with_comments_above(self, start: int, column: int) -> int:
        """Extend a line-start index upwards over comment lines at ``column``."""
        while start > 0:
            prev = _line_start(self.text, start - 1)
            line = self.text[prev : start - 1]
            stripped = line.lstrip(" ")
            if stripped.startswith("#") and len(line) - len(stripped) == column:
                start = prev
            else:
                break
        return start

    def _splice(self, start: int, end: int, new: str) -> str:
        return self.text[:start] + new + self.text[end:]

    # -- operations --------------------------------------------------------------------

    def apply(self, op: _TextOp) -> tuple[str, list[_TextOp]]:
        if isinstance(op, _IndexRemove):
            chain = self._walk((*op.path, op.index))
            parent = chain[-2][1] if len(chain) == len(op.path) + 2 else None
            if not isinstance(parent, YSeq):
                raise EditError(f"no list item {op.index} at {format_path(op.path)}")
            return self._remove_item(parent, op.index), []
        if isinstance(op, _FlowReplace):
            chain = self._walk(op.path)
            key, node = chain[-1]
            if len(chain) != len(op.path) + 1:
                raise EditError(f"no list at {format_path(op.path)}")
            if isinstance(node, YSeq) and node.flow:
                rendered = roundtrip.render_flow(op.value, style=self.style)
                return self._splice(node.start, node.end, rendered), []
            return self._replace_node(op.path, key, node, op.value)
        if isinstance(op, SetOp):
            return self._set(op)
        if isinstance(op, RemoveOp):
            return self._remove(op.path), []
        if isinstance(op, InsertOp):
            chain = self._walk(op.path)
            node = chain[-1][1]
            if len(chain) != len(op.path) + 1 or not isinstance(node, YSeq):
                raise EditError(f"no list at {format_path(op.path)}")
            return self._insert_item(node, op.index, op.value), []
        return self._add_item(op)

    def _add_item(self, op: AddItemOp) -> tuple[str, list[_TextOp]]:
        chain = self._walk(op.path)
        node = chain[-1][1]
        if len(chain) != len(op.path) + 1 or not isinstance(node, YSeq):
            return self.text, [SetOp(op.path, [op.item])]
        if op.key is not None and isinstance(op.item, dict):
            match = Match(op.key, op.item.get(op.key))
            if self._child(node, match) is not None:
                return self.text, [SetOp((*op.path, match), op.item)]
        return self._insert_item(node, len(node.items), op.item), []

    def _set(self, op: SetOp) -> tuple[str, list[_TextOp]]:
        chain = self._walk(op.path)
        found = len(chain) - 1
        key, node = chain[-1]
        if found < len(op.path):
            rest = op.path[found:]
            return self._create(node, key, rest, op.value), []
        value = op.value
        if isinstance(node, YMap) and isinstance(value, dict):
            return self.text, [SetOp((*op.path, k), v) for k, v in value.items()]
        if isinstance(node, YSeq) and isinstance(value, list):
            return self.text, self._list_ops(op.path, node, value, op.was)
        if isinstance(node, YScalar) and not isinstance(value, dict | list):
            return self._replace_scalar(node, key, value, op.path), []
        return self._replace_node(op.path, key, node, value)

    def _list_ops(
        self, path: Path, node: YSeq, value: list[JSON], was: JSON = None
    ) -> list[_TextOp]:
        old = roundtrip.to_plain(node)
        if not value:
            return [_FlowReplace(path, value)]
        a = [json.dumps(v, sort_keys=True) for v in old]
        b = [json.dumps(v, sort_keys=True) for v in value]
        live = _stand_ins(old, a, b, was)
        ops: list[_TextOp] = []
        opcodes = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in reversed(opcodes):
            if tag == "equal":
                continue
            if (
                tag == "replace"
                and i2 - i1 == j2 - j1
                and all(not isinstance(v, dict | list) for v in [*old[i1:i2], *value[j1:j2]])
            ):
                ops.extend(SetOp((*path, i1 + n), value[j1 + n]) for n in range(i2 - i1))
                continue
            if (
                tag == "replace"
                and i2 - i1 == j2 - j1
                and all(isinstance(v, dict) for v in [*old[i1:i2], *value[j1:j2]])
            ):
                # the same items, edited: change them key by key, so their comments, quoting
                # and layout stay (an Ingress rule whose host changed keeps its comments)
                for n in range(i2 - i1):
                    here = (*path, i1 + n)
                    source = live.get(i1 + n)
                    if source is not None:
                        ops.extend(_delta_item_ops(here, old[i1 + n], source, value[j1 + n]))
                    else:
                        ops.extend(_item_ops(here, old[i1 + n], value[j1 + n]))
                continue
            added = j2 - j1
            ops.extend(InsertOp(path, i1 + n, value[j1 + n]) for n in range(added))
            ops.extend(_IndexRemove(path, i1 + added + m) for m in reversed(range(i2 - i1)))
        return ops

    def _create(self, node: YNode, key: YScalar | None, rest: Path, value: JSON) -> str:
        """Create the missing tail ``rest`` of a path below ``node``."""
        step = rest[0]
        tail: JSON = _nest(rest[1:], value)
        if isinstance(node, YMap) and isinstance(step, str):
            return self._insert_entry(node, step, tail)
        if isinstance(node, YSeq) and isinstance(step, Match):
            item = {step.key: step.value}
            if isinstance(tail, dict):
                item.update(tail)
            return self._insert_item(node, len(node.items), item)
        if isinstance(node, YScalar) and node.value is None and key is not None:
            fresh: JSON = _nest(rest, value)
            return self._fill_empty(key, node, fresh)
        raise EditError(f"cannot create {format_path(rest)} under a {type(node).__name__}")

    def _fill_empty(self, key: YScalar, node: YScalar, value: JSON) -> str:
        column = key.column
        if isinstance(value, dict | list) and value:
            lines = roundtrip.render_value_lines("", value, column, self.style)[1:]
            at = _line_end(self.text, self._colon_end(key))
            return self._splice(at, at, "\n" + "\n".join(lines))
        rendered = roundtrip.render_value_lines("", value, column, self.style)
        start = self._colon_end(key)
        end = node.end if not self._is_empty(node) else start
        return self._splice(start, end, rendered[0] + "".join("\n" + x for x in rendered[1:]))

    def _insert_entry(self, node: YMap, key: str, value: JSON) -> str:
        if node.flow or not node.pairs:
            if not node.flow:
                raise EditError("cannot add to an empty block mapping")
            prefer = _sibling_quote([v for _, v in node.pairs])
            entry = f"{roundtrip.render_scalar(key, style=self.style, flow=True)}: " + (
                roundtrip.render_flow(value, style=self.style, prefer=prefer)
            )
            if node.pairs:
                last_key, last_value = node.pairs[-1]
                at = self._content_end(last_value, last_key)
                return self._splice(at, at, ", " + entry)
            close = self.text.rfind("}", node.start, node.end)
            return self._splice(close, close, entry)
        column = node.pairs[0][0].column
        last_key, last_value = node.pairs[-1]
        at = _line_end(self.text, self._content_end(last_value, last_key) - 1)
        head = " " * column + roundtrip.render_scalar(key, style=self.style) + ":"
        prefer = _sibling_quote([v for _, v in node.pairs])
        lines = roundtrip.render_value_lines(head, value, column, self._style_near(node), prefer)
        return self._splice(at, at, "\n" + "\n".join(lines))

    def _style_near(self, node: YMap) -> roundtrip.Style:
        """The file style, with the list offset of this mapping's own lists if it has any."""
        for key, value in node.pairs:
            if isinstance(value, YSeq) and not value.flow and value.line > key.line:
                offset = value.column - key.column
                return roundtrip.Style(self.style.indent, max(offset, 0), self.style.quote)
        return self.style

    def _insert_item(self, node: YSeq, index: int, value: JSON) -> str:
        if node.flow or not node.items:
            if not node.flow:
                raise EditError("cannot add to an empty block list")
            prefer = _sibling_quote(node.items)
            rendered = roundtrip.render_flow(value, style=self.style, prefer=prefer)
            if not node.items:
                close = self.text.rfind("]", node.start, node.end)
                return self._splice(close, close, rendered)
            if index >= len(node.items):
                at = self._content_end(node.items[-1])
                return self._splice(at, at, ", " + rendered)
            at = node.items[index].start
            return self._splice(at, at, rendered + ", ")
        dash = self._dash(node.items[0])
        column = _column(self.text, dash)
        lines = roundtrip.render_items([value], column, self.style, _sibling_quote(node.items))
        if index >= len(node.items):
            at = _line_end(self.text, self._content_end(node.items[-1]) - 1)
            return self._splice(at, at, "\n" + "\n".join(lines))
        target = self._dash(node.items[index])
        start = _line_start(self.text, target)
        if self.text[start:target].strip():
            raise EditError("cannot insert before a list item that shares its line")
        return self._splice(start, start, "\n".join(lines) + "\n")

    def _replace_scalar(self, node: YScalar, key: YScalar | None, value: JSON, path: Path) -> str:
        if self._is_empty(node) and key is not None:
            return self._fill_empty(key, node, value)
        in_flow = self._in_flow(path)
        block = isinstance(value, str) and roundtrip.block_safe(value)
        if block and "\n" in value.strip("\n") and not in_flow:
            column = self._block_column(node, key)
            lines = roundtrip.block_scalar(value, column)
            end = node.end
            if node.style in ("|", ">"):
                end = _line_end(self.text, self._content_end(node) - 1)
                rest = ""
            else:
                line_end = _line_end(self.text, end)
                rest = self.text[end:line_end]
                end = line_end
            header = lines[0] + (rest if rest.strip().startswith("#") else "")
            return self._splice(node.start, end, "\n".join([header, *lines[1:]]))
        if node.style in ("|", ">") and block:
            lines = roundtrip.block_scalar(value, self._block_column(node, key))
            end = _line_end(self.text, self._content_end(node) - 1)
            return self._splice(node.start, end, "\n".join(lines))
        prefer = node.style if node.style in ("'", '"') and isinstance(value, str) else None
        rendered = roundtrip.render_scalar(value, style=self.style, flow=in_flow, prefer=prefer)
        return self._splice(node.start, node.end, rendered)

    def _block_column(self, node: YScalar, key: YScalar | None) -> int:
        if node.style in ("|", ">"):
            body = self.text[node.start : node.end].split("\n")[1:]
            for line in body:
                if line.strip():
                    return len(line) - len(line.lstrip(" "))
        base = key.column if key is not None else node.column
        return base + self.style.indent

    def _in_flow(self, path: Path) -> bool:
        return any(isinstance(n, YMap | YSeq) and n.flow for _, n in self._walk(path)[:-1])

    def _replace_node(
        self, path: Path, key: YScalar | None, node: YNode, value: JSON
    ) -> tuple[str, list[_TextOp]]:
        """Replace a value by one of another shape (mapping ↔ list ↔ scalar)."""
        if isinstance(node, YMap | YSeq) and node.flow:
            rendered = roundtrip.render_flow(value, style=self.style)
            return self._splice(node.start, node.end, rendered), []
        if key is not None:
            end = _line_end(self.text, self._content_end(node, key) - 1)
            start = self._colon_end(key)
            if isinstance(value, dict | list) and value:
                lines = roundtrip.render_value_lines("", value, key.column, self.style)
                return self._splice(start, end, "\n" + "\n".join(lines[1:])), []
            lines = roundtrip.render_value_lines("", value, key.column, self.style)
            return self._splice(start, end, "\n".join(lines)), []
        parent = path[:-1]
        last = path[-1]
        if isinstance(last, int):
            return self.text, [InsertOp(parent, last, value), _IndexRemove(parent, last + 1)]
        raise EditError(f"cannot replace the value at {format_path(path)}")

    def _remove(self, path: Path) -> str:
        if not path:
            raise EditError("cannot remove the whole document")
        chain = self._walk(path)
        if len(chain) != len(path) + 1:
            return self.text
        parent = chain[-2][1]
        if isinstance(parent, YMap) and len(parent.pairs) == 1 and len(path) > 1:
            return self._remove(path[:-1])
        if isinstance(parent, YSeq) and len(parent.items) == 1 and len(path) > 1:
            return self._remove(path[:-1])
        if isinstance(parent, YMap):
            index = next(
                i for i, (k, _) in enumerate(parent.pairs) if roundtrip.key_text(k) == path[-1]
            )
            return self._remove_entry(parent, index)
        assert isinstance(parent, YSeq)
        target = chain[-1][1]
        index = next(i for i, item in enumerate(parent.items) if item is target)
        return self._remove_item(parent, index)

    def _remove_entry(self, node: YMap, index: int) -> str:
        key, value = node.pairs[index]
        if node.flow:
            if index + 1 < len(node.pairs):
                return self._splice(key.start, node.pairs[index + 1][0].start, "")
            prev_key, prev_value = node.pairs[index - 1]
            start = self._content_end(prev_value, prev_key)
            return self._splice(start, self._content_end(value, key), "")
        line = _line_start(self.text, key.start)
        if self.text[line : key.start].strip():
            if index + 1 >= len(node.pairs):
                raise EditError("cannot remove the only key of a list item")
            return self._splice(key.start, node.pairs[index + 1][0].start, "")
        start = self._with_comments_above(line, key.column)
        end = _line_end(self.text, self._content_end(value, key) - 1)
        return self._splice(start, min(end + 1, len(self.text)), "")

    def _remove_item(self, node: YSeq, index: int) -> str:
        item = node.items[index]
        if node.flow:
            if index + 1 < len(node.items):
                return self._splice(item.start, node.items[index + 1].start, "")
            start = self._content_end(node.items[index - 1])
            return self._splice(start, self._content_end(item), "")
        dash = self._dash(item)
        line = _line_start(self.text, dash)
        if self.text[line:dash].strip():
            raise EditError("cannot remove a list item that shares its line")
        # comment lines above an item go with it.  Above the first item they sit right under
        # the list's key and may describe the whole list: they go with the item only when
        # the next item has its own comment too (then each item carries one)
        start = self._with_comments_above(line, dash - line)
        if index == 0 and start != line and not self._item_has_comment(node, 1):
            start = line
        end = _line_end(self.text, max(self._content_end(item), dash + 1) - 1)
        return self._splice(start, min(end + 1, len(self.text)), "")


def list_result(git: list[JSON], new: list[JSON], was: JSON = None) -> list[JSON]:
    """The list a ``SetOp`` of ``new`` leaves where Git holds ``git`` (``was``: the live list
    before the change): Git's items the change kept stay as Git writes them (without the
    server's defaults), changed ones take the change, and the rest is ``new``'s.  The text
    edit makes exactly this list; the read-back check compares with it."""
    a = [json.dumps(v, sort_keys=True) for v in git]
    b = [json.dumps(v, sort_keys=True) for v in new]
    live = _stand_ins(git, a, b, was)
    out: list[JSON] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(copy.deepcopy(git[i1:i2]))
        elif (
            tag == "replace"
            and i2 - i1 == j2 - j1
            and all(isinstance(v, dict) for v in [*git[i1:i2], *new[j1:j2]])
        ):
            for n in range(i2 - i1):
                source = live.get(i1 + n)
                if source is None:
                    out.append(copy.deepcopy(new[j1 + n]))
                else:
                    out.append(_item_result(git[i1 + n], source, new[j1 + n]))
        else:
            out.extend(copy.deepcopy(new[j1:j2]))
    return out


def _item_result(git: JSON, live: JSON, new: JSON) -> JSON:
    """Git's item with the change from ``live`` to ``new`` (see ``_delta_item_ops``)."""
    if not (isinstance(git, dict) and isinstance(live, dict) and isinstance(new, dict)):
        return copy.deepcopy(new)
    out = copy.deepcopy(git)
    for key in live:
        if key not in new:
            out.pop(key, None)
    for key, value in new.items():
        if key in live and live[key] == value:
            continue
        if key in git and isinstance(git[key], dict) and isinstance(value, dict):
            out[key] = _item_result(git[key], live.get(key, {}), value)
        elif key in git and isinstance(git[key], list) and isinstance(value, list) and value:
            out[key] = list_result(git[key], value, live.get(key))
        else:
            out[key] = copy.deepcopy(value)
    return out


def _covers(live: JSON, git: JSON) -> bool:
    """Whether ``live`` is ``git`` with, at most, fields added (the server's defaults)."""
    if isinstance(git, dict):
        return isinstance(live, dict) and all(
            k in live and _covers(live[k], v) for k, v in git.items()
        )
    if isinstance(git, list):
        return (
            isinstance(live, list)
            and len(live) == len(git)
            and all(_covers(x, y) for x, y in zip(live, git, strict=True))
        )
    return bool(live == git)


def _stand_ins(old: list[JSON], a: list[str], b: list[str], was: JSON) -> dict[int, JSON]:
    """Git's items that are live items with server defaults added: each such item's entry in
    ``a`` becomes the live item's text, so an unchanged one matches the new list exactly.
    Returns, by position in Git, the live item each one stands for."""
    if not isinstance(was, list):
        return {}
    found: dict[int, JSON] = {}
    taken: set[int] = set()
    wanted = set(b)
    for i, item in enumerate(old):
        if a[i] in wanted:
            continue
        for j, live in enumerate(was):
            if j not in taken and _covers(live, item):
                taken.add(j)
                found[i] = live
                a[i] = json.dumps(live, sort_keys=True)
                break
    return found


def _delta_item_ops(path: Path, git: JSON, live: JSON, new: JSON) -> list[_TextOp]:
    """Operations that bring Git's item the change from ``live`` to ``new``: keys the change
    removed go (where Git has them), changed and added keys are set; the server's defaults,
    the same in ``live`` and ``new``, are left out."""
    if not (isinstance(git, dict) and isinstance(live, dict) and isinstance(new, dict)):
        return [SetOp(path, copy.deepcopy(new))]
    ops: list[_TextOp] = [RemoveOp((*path, key)) for key in live if key not in new and key in git]
    for key, value in new.items():
        if key in live and live[key] == value:
            continue
        here = (*path, key)
        if key in git and isinstance(git[key], dict) and isinstance(value, dict):
            ops.extend(_delta_item_ops(here, git[key], live.get(key, {}), value))
        elif key in git and isinstance(git[key], list) and isinstance(value, list):
            ops.append(SetOp(here, copy.deepcopy(value), copy.deepcopy(live.get(key))))
        else:
            ops.append(SetOp(here, copy.deepcopy(value)))
    return ops


def _item_ops(path: Path, old: dict[str, JSON], new: dict[str, JSON]) -> list[_TextOp]:
    """Operations that turn mapping ``old`` (as Git has it) at ``path`` into ``new``."""
    ops: list[_TextOp] = [RemoveOp((*path, key)) for key in old if key not in new]
    for key, value in new.items():
        if key in old and old[key] == value:
            continue
        if isinstance(old.get(key), dict) and isinstance(value, dict):
            ops.extend(_item_ops((*path, key), old[key], value))
        else:
            ops.append(SetOp((*path, key), copy.deepcopy(value)))
    return ops


@dataclass(frozen=True)
class _IndexRemove:
    path: Path
    index: int


@dataclass(frozen=True)
class _FlowReplace:
    path: Path
    value: JSON


_TextOp = Op | _IndexRemove | _FlowReplace


def _sibling_quote(nodes: Sequence[YNode]) -> str | None:
    """The quote character every string sibling uses, so a new string matches them."""
    styles = [n.style for n in nodes if isinstance(n, YScalar) and isinstance(n.value, str)]
    if styles and all(s in ("'", '"') for s in styles) and len(set(styles)) == 1:
        return styles[0]
    return None


def _nest(path: Path, value: JSON) -> JSON:
    """``value`` wrapped in the mappings / keyed items that ``path`` names."""
    for step in reversed(path):
        if isinstance(step, str):
            value = {step: value}
        elif isinstance(step, Match):
            item = {step.key: step.value}
            if isinstance(value, dict):
                item.update(value)
            value = [item]
        else:
            raise EditError("cannot create a list item by index")
    return value
