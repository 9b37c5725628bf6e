"""Flux's post-build variable substitution, as kustomize-controller runs it.

Fleet repositories keep ``${REGION}``-style variables in manifests; each cluster's Flux
``Kustomization`` sets them (``spec.postBuild``), and kustomize-controller replaces them in the
YAML of every object after ``kustomize build``.  Deciding whether a field's value comes from a
variable, writing a literal that must survive substitution, and rendering what a branch
deploys all need the same rules, so they live here, as pure functions over strings.

This is a port of ``github.com/fluxcd/pkg/envsubst`` (a fork of drone/envsubst) and of
``SubstituteVariables`` in ``github.com/fluxcd/pkg/kustomize`` (``kustomize_varsub.go``):

- ``${var}`` is the variable's value; unset is the empty string (``strict`` makes a bare
  reference to an unset variable an error, as the ``StrictPostBuildSubstitutions`` feature
  gate does; default-giving forms stay allowed).
- ``${var=default}``, ``${var:=default}``, ``${var:-default}`` (and ``:?``, ``:+``, which Flux
  parses but evaluates the same way) give ``default`` when the value is unset *or empty*.
  ``${var-default}`` is a parse error in Flux, as are unclosed braces.
- ``$$`` is one ``$`` (so ``$${var}`` is the text ``${var}``); a ``$`` followed by anything
  else stays as it is (``$var`` is not a reference).
- ``${#var}``, ``${var^}``, ``${var^^}``, ``${var,}``, ``${var,,}``, ``${var:n}``,
  ``${var:n:len}``, ``${var#pat}``, ``${var##pat}``, ``${var%pat}``, ``${var%%pat}``,
  ``${var/a/b}``, ``${var//a/b}``, ``${var/#a/b}``, ``${var/%a/b}`` as in Flux (lengths and
  offsets count UTF-8 bytes, as Go's strings do).
- Variable names set by a Kustomization must match ``^[_[:alpha:]][_[:alpha:][:digit:]]*$``
  (ASCII), and line breaks are removed from their values.
- An object labelled or annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled`` is
  not substituted at all.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

JSON = Any

#: The label or annotation that turns substitution off for one object, and its value.
DISABLE_KEY: Final = "kustomize.toolkit.fluxcd.io/substitute"
DISABLED: Final = "disabled"

#: Flux's ``varsubRegex``: the names a Kustomization may set (``[:alpha:]`` is ASCII in Go).
VAR_NAME: Final = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*\Z")

#: The forms that give a default when the variable is unset or empty.
DEFAULT_FORMS: Final = ("=", ":=", ":-")


class SubstitutionError(ValueError):
    """Text Flux cannot substitute (a bad expression, an unset variable in strict mode)."""


# --------------------------------------------------------------------------------------------
# The parse tree


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Func:
    """A ``${...}`` expression: the variable (``param``), the operation (``name``: ``""`` for a
    bare reference, ``:=``, ``#``, ``//``, …) and its arguments."""

    param: str
    name: str = ""
    args: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Seq:
    nodes: tuple[Node, ...]


Node = Text | Func | Seq


# --------------------------------------------------------------------------------------------
# The scanner (parse/scan.go)

_EOF: Final = ""
_IDENT, _LBRACK, _RBRACK, _ESCAPE = 1, 2, 4, 8
_DOLLAR, _BACKSLASH = 1, 2
_T_ILLEGAL, _T_EOF, _T_IDENT, _T_LBRACK, _T_RBRACK = range(5)

Accept = Callable[[str, int], bool]


def _is_letter(r: str) -> bool:
    return unicodedata.category(r).startswith("L")


def _accept_rune(r: str, i: int) -> bool:
    return True


def _accept_ident(r: str, i: int) -> bool:
    return _is_letter(r) or unicodedata.category(r) == "Nd" or r == "_"


def _accept_colon(r: str, i: int) -> bool:
    return r == ":"


def _accept_one_hash(r: str, i: int) -> bool:
    return r == "#" and i == 1


def _accept_not_closing(r: str, i: int) -> bool:
    return r != "}"


def _accept_hash_func(r: str, i: int) -> bool:
    return r == "#" and i < 3


def _accept_percent_func(r: str, i: int) -> bool:
    return r == "%" and i < 3


def _accept_default_func(r: str, i: int) -> bool:
    return (i == 1 and r == ":") or (i == 2 and r in "=-?+")


def _accept_replace_func(r: str, i: int) -> bool:
    return (i == 1 and r == "/") or (i == 2 and r in "/#%")


def _accept_one_equal(r: str, i: int) -> bool:
    return i == 1 and r == "="


def _accept_one_colon(r: str, i: int) -> bool:
    return i == 1 and r == ":"


def _reject_colon_close(r: str, i: int) -> bool:
    return r not in ":}"


def _accept_slash(r: str, i: int) -> bool:
    return r == "/"


def _accept_not_slash(r: str, i: int) -> bool:
    return r != "/"


def _accept_casing_func(r: str, i: int) -> bool:
    return r in ",^" and i < 3


class _Scanner:
    """The scanner of Flux's envsubst, step for step (it edits its buffer to drop escapes)."""

    def __init__(self, buf: str) -> None:
        self.buf = buf
        self.pos = 0
        self.start = 0
        self.width = 0
        self.mode = 0
        self.escape_chars = 0
        self.accept: Accept = _accept_rune

    def read(self) -> str:
        if self.pos >= len(self.buf):
            self.width = 0
            return _EOF
        r = self.buf[self.pos]
        self.width = 1
        self.pos += 1
        return r

    def unread(self) -> None:
        self.pos -= self.width

    def skip(self) -> None:
        self.buf = self.buf[: self.pos - 1] + self.buf[self.pos :]

    def peek(self) -> str:
        r = self.read()
        self.unread()
        return r

    def string(self) -> str:
        return self.buf[self.start : self.pos]

    def scan(self) -> int:
        self.start = self.pos
        r = self.read()
        if r == _EOF:
            return _T_EOF
        if self._lbrack(r):
            return _T_LBRACK
        if self._rbrack(r):
            return _T_RBRACK
        if self._ident(r):
            return _T_IDENT
        return _T_ILLEGAL

    def _ident(self, r: str) -> bool:
        if not self.mode & _IDENT:
            return False
        if self._escaped(r):
            self.skip()
        elif not self.accept(r, self.pos - self.start):
            return False
        while True:
            r = self.read()
            if r == _EOF:
                self.unread()
                break
            if self._lbrack(r):
                self.unread()
                self.unread()
                break
            if self._escaped(r):
                self.skip()
                continue
            if not self.accept(r, self.pos - self.start):
                self.unread()
                break
        return True

    def _lbrack(self, r: str) -> bool:
        if not self.mode & _LBRACK:
            return False
        if r == "$":
            if self.read() == "{":
                return True
            self.unread()
        return False

    def _rbrack(self, r: str) -> bool:
        return bool(self.mode & _RBRACK) and r == "}"

    def _escaped(self, r: str) -> bool:
        if not self.mode & _ESCAPE:
            return False
        if r == "$" and self.escape_chars & _DOLLAR and self.peek() == "$":
            return True
        return r == "\\" and bool(self.escape_chars & _BACKSLASH) and self.peek() in ("/", "\\")


# --------------------------------------------------------------------------------------------
# The parser (parse/parse.go)


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = _Scanner(text)

    def parse(self) -> Seq:
        nodes: list[Node] = []
        s = self.s
        while True:
            s.accept = _accept_rune
            s.mode = _IDENT | _LBRACK | _ESCAPE
            s.escape_chars = _DOLLAR
            token = s.scan()
            if token == _T_IDENT:
                nodes.append(Text(s.string()))
            elif token == _T_EOF:
                return Seq(tuple(nodes))
            elif token == _T_LBRACK:
                nodes.append(self._func())
            else:
                raise SubstitutionError("bad substitution")

    def _func(self) -> Node:
        s = self.s
        s.escape_chars = _DOLLAR | _BACKSLASH
        if s.peek() == "#":
            return self._len_func()
        s.accept = _accept_ident
        s.mode = _IDENT
        if s.scan() != _T_IDENT:
            raise SubstitutionError("unable to parse variable name")
        name = s.string()
        nxt = s.peek()
        if nxt == ":":
            return self._default_or_substr(name)
        if nxt == "=":
            return self._default_func(name)
        if nxt in (",", "^"):
            return self._casing_func(name)
        if nxt == "/":
            return self._replace_func(name)
        if nxt == "#":
            return self._remove_func(name, _accept_hash_func)
        if nxt == "%":
            return self._remove_func(name, _accept_percent_func)
        s.accept = _accept_ident
        s.mode = _RBRACK
        if s.scan() == _T_RBRACK:
            return Func(name)
        raise SubstitutionError("missing closing brace")

    def _param(self, accept: Accept, mode: int) -> Node:
        s = self.s
        s.accept = accept
        s.mode = mode | _LBRACK
        token = s.scan()
        if token == _T_LBRACK:
            return self._func()
        if token in (_T_IDENT, _T_RBRACK):
            return Text(s.string())
        raise SubstitutionError("unable to parse substitution within function")

    def _op(self, accept: Accept, error: str = "bad substitution") -> str:
        s = self.s
        s.accept = accept
        s.mode = _IDENT
        if s.scan() != _T_IDENT:
            raise SubstitutionError(error)
        return s.string()

    def _default_or_substr(self, name: str) -> Node:
        s = self.s
        s.read()
        r = s.peek()
        s.unread()
        if r and r in "=-?+":
            return self._default_func(name)
        return self._substr_func(name)

    def _substr_func(self, name: str) -> Node:
        s = self.s
        op = self._op(_accept_one_colon)
        args = [self._param(_reject_colon_close, _IDENT)]
        s.accept = _accept_colon
        s.mode = _IDENT | _RBRACK
        token = s.scan()
        if token == _T_RBRACK:
            return Func(name, op, tuple(args))
        if token != _T_IDENT:
            raise SubstitutionError("bad substitution")
        args.append(self._param(_accept_not_closing, _IDENT))
        self._rbrack()
        return Func(name, op, tuple(args))

    def _remove_func(self, name: str, accept: Accept) -> Node:
        op = self._op(accept)
        arg = self._param(_accept_not_closing, _IDENT)
        self._rbrack()
        return Func(name, op, (arg,))

    def _replace_func(self, name: str) -> Node:
        s = self.s
        op = self._op(_accept_replace_func)
        args = [self._param(_accept_not_slash, _IDENT | _ESCAPE)]
        s.accept = _accept_slash
        s.mode = _IDENT
        if s.scan() != _T_IDENT:
            raise SubstitutionError("bad substitution")
        if s.peek() == "}":
            self._rbrack()
            return Func(name, op, tuple(args))
        args.append(self._param(_accept_not_closing, _IDENT | _ESCAPE))
        self._rbrack()
        return Func(name, op, tuple(args))

    def _default_func(self, name: str) -> Node:
        s = self.s
        accept = _accept_one_equal if s.peek() == "=" else _accept_default_func
        op = self._op(accept, "unable to parse default function")
        args: list[Node] = []
        while True:
            if s.peek() == "}":
                self._rbrack()
                return Func(name, op, tuple(args))
            args.append(self._param(_accept_not_closing, _IDENT))

    def _casing_func(self, name: str) -> Node:
        op = self._op(_accept_casing_func)
        self._rbrack()
        return Func(name, op)

    def _len_func(self) -> Node:
        op = self._op(_accept_one_hash)
        s = self.s
        s.accept = _accept_ident
        s.mode = _IDENT
        if s.scan() != _T_IDENT:
            raise SubstitutionError("bad substitution")
        param = s.string()
        self._rbrack()
        return Func(param, op)

    def _rbrack(self) -> None:
        self.s.mode = _RBRACK
        if self.s.scan() != _T_RBRACK:
            raise SubstitutionError("bad substitution")


def parse(text: str) -> Seq:
    """The expression tree of ``text``; ``SubstitutionError`` where Flux fails to parse."""
    try:
        return _Parser(text).parse()
    except IndexError:  # pragma: no cover - the scanner never reads before the start
        raise SubstitutionError("bad substitution") from None


# --------------------------------------------------------------------------------------------
# Evaluation (template.go, funcs.go)

Lookup = Callable[[str], "tuple[str, bool]"]


def substitute(text: str, variables: Mapping[str, str], *, strict: bool = False) -> str:
    """``text`` as Flux substitutes it with ``variables`` (unset is empty unless ``strict``)."""

    def lookup(name: str) -> tuple[str, bool]:
        if name in variables:
            return variables[name], True
        return "", not strict

    return evaluate(parse(text), lookup)


def evaluate(tree: Node, lookup: Lookup) -> str:
    """The text of a parsed expression; ``lookup`` answers (value, exists) per variable."""
    if isinstance(tree, Text):
        return tree.value
    if isinstance(tree, Seq):
        return "".join(evaluate(node, lookup) for node in tree.nodes)
    args = [evaluate(arg, lookup) for arg in tree.args]
    value, exists = lookup(tree.param)
    if not exists and tree.name not in ("-", "+", "=", "?", ":-", ":+", ":=", ":?"):
        raise SubstitutionError(f"variable not set (strict mode): {tree.param!r}")
    return _function(tree.name, len(args))(value, args)


def _function(name: str, nargs: int) -> Callable[[str, list[str]], str]:
    table: dict[str, Callable[[str, list[str]], str]] = {
        ",": lambda s, a: s[:1].lower() + s[1:],
        ",,": lambda s, a: s.lower(),
        "^": lambda s, a: s[:1].upper() + s[1:],
        "^^": lambda s, a: s.upper(),
        "##": lambda s, a: _trim_longest(s, a[0]) if a else s,
        "%": lambda s, a: _reverse(_trim_shortest(_reverse(s), _reverse(a[0]))) if a else s,
        "%%": lambda s, a: _reverse(_trim_longest(_reverse(s), _reverse(a[0]))) if a else s,
        ":": _substr,
        "/#": lambda s, a: s.replace(a[0], a[1], 1) if len(a) == 2 and s.startswith(a[0]) else s,
        "/%": lambda s, a: (
            s[: len(s) - len(a[0])] + a[1] if len(a) == 2 and s.endswith(a[0]) else s
        ),
        "/": lambda s, a: s.replace(a[0], a[1] if len(a) > 1 else "", 1) if a else s,
        "//": lambda s, a: s.replace(a[0], a[1] if len(a) > 1 else "") if a else s,
    }
    if name == "#":
        if nargs == 0:
            return lambda s, a: str(len(s.encode()))
        return lambda s, a: _trim_shortest(s, a[0])
    return table.get(name, _to_default)


def _to_default(value: str, args: list[str]) -> str:
    return "".join(args) if not value and args else value


def _substr(value: str, args: list[str]) -> str:
    data = value.encode()
    if not args:
        return value
    pos = _go_atoi(args[0])
    if pos is None:
        return value
    if pos < 0:
        pos = max(len(data) + pos, 0)
    if len(args) == 1:
        return data[pos:].decode(errors="replace") if pos < len(data) else ""
    length = _go_atoi(args[1])
    if length is None:
        return value
    if pos + length >= len(data):
        return data[pos:].decode(errors="replace") if pos < len(data) else ""
    return data[pos : pos + length].decode(errors="replace")


def _go_atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: an optional sign and decimal digits, nothing else."""
    if re.fullmatch(r"[+-]?[0-9]+", text) is None:
        return None
    return int(text)


def _reverse(text: str) -> str:
    return text[::-1]


def _trim_shortest(value: str, pattern: str) -> str:
    shortest = ""
    for i in range(len(value)):
        candidate = value[: len(value) - i]
        matched = _match(pattern, candidate)
        if matched is None:
            return value
        if matched:
            shortest = candidate
    return value[len(shortest) :] if shortest else value


def _trim_longest(value: str, pattern: str) -> str:
    for i in range(len(value)):
        candidate = value[: len(value) - i]
        matched = _match(pattern, candidate)
        if matched is None:
            return value
        if matched:
            return value[len(candidate) :]
    return value


def _match(pattern: str, name: str) -> bool | None:
    """Flux's ``path.Match`` (``*`` also crosses ``/``); ``None`` for a bad pattern."""
    try:
        return _match_pattern(pattern, name)
    except ValueError:
        return None


def _match_pattern(pattern: str, name: str) -> bool:
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return True
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            for i in range(len(name)):
                rest, ok = _match_chunk(chunk, name[i + 1 :])
                if ok:
                    if not pattern and rest:
                        continue
                    name = rest
                    break
            else:
                return False
            continue
        return False
    return not name


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif char == "[":
            in_range = True
        elif char == "]":
            in_range = False
        elif char == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    while chunk:
        if not s:
            return "", False
        head = chunk[0]
        if head == "[":
            r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            ranges = 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_escaped(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_escaped(chunk[1:])
                if lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                return "", False
        elif head == "?":
            s, chunk = s[1:], chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise ValueError("syntax error in pattern")
            if chunk[0] != s[0]:
                return "", False
            s, chunk = s[1:], chunk[1:]
    return s, True


def _get_escaped(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise ValueError("syntax error in pattern")
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise ValueError("syntax error in pattern")
    rest = chunk[1:]
    if not rest:
        raise ValueError("syntax error in pattern")
    return chunk[0], rest


# --------------------------------------------------------------------------------------------
# What the engine asks


@dataclass(frozen=True)
class Variable:
    """A scalar that is exactly one variable: ``${NAME}``, or with a default given when the
    variable is unset or empty (``${NAME:=eu}``, ``${NAME=eu}``, ``${NAME:-eu}``)."""

    name: str
    default: str | None = None  # None: a bare reference
    text: str = ""

    def value(self, variables: Mapping[str, str]) -> str:
        """What Flux puts in place of the scalar, given the variables it has."""
        value = variables.get(self.name, "")
        return self.default if not value and self.default is not None else value

    def describe(self) -> str:
        return self.text or f"${{{self.name}}}"


def whole_variable(text: str) -> Variable | None:
    """The variable ``text`` consists of, when it is exactly one (with a plain default)."""
    try:
        tree = parse(text)
    except SubstitutionError:
        return None
    if len(tree.nodes) != 1 or not isinstance(tree.nodes[0], Func):
        return None
    func = tree.nodes[0]
    if func.name == "":
        return Variable(func.param, None, text)
    if func.name in DEFAULT_FORMS and all(isinstance(arg, Text) for arg in func.args):
        default = "".join(arg.value for arg in func.args if isinstance(arg, Text))
        return Variable(func.param, default, text)
    return None


def references(text: str) -> set[str]:
    """Names of the variables ``text`` refers to (inside defaults too); a text Flux cannot
    parse raises ``SubstitutionError``."""
    return {func.param for func in _funcs(parse(text))}


def _funcs(node: Node) -> Iterator[Func]:
    if isinstance(node, Seq):
        for inner in node.nodes:
            yield from _funcs(inner)
    elif isinstance(node, Func):
        yield node
        for arg in node.args:
            yield from _funcs(arg)


def has_references(text: str) -> bool:
    """Whether ``text`` refers to a variable (text Flux cannot parse counts if it has ``${``)."""
    try:
        return bool(references(text))
    except SubstitutionError:
        return "${" in text


def special(text: str) -> bool:
    """Whether substitution may change ``text`` (it holds ``${`` or a ``$$`` escape)."""
    return "${" in text or "$$" in text


def escape(value: str) -> str:
    """The text Flux substitutes back into ``value``: ``$`` doubled where it precedes ``{``
    or another ``$``, so ``${HOME}`` is written ``$${HOME}``; any other text is unchanged."""
    out: list[str] = []
    for position, char in enumerate(value):
        out.append(char)
        if char == "$" and value[position + 1 : position + 2] in ("$", "{"):
            out.append("$")
    return "".join(out)


def disabled(obj: JSON) -> bool:
    """Whether ``obj`` opts out of substitution (the label or the annotation)."""
    if not isinstance(obj, dict):
        return False
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return False
    for section in ("labels", "annotations"):
        values = meta.get(section)
        if isinstance(values, dict) and values.get(DISABLE_KEY) == DISABLED:
            return True
    return False


def clean_value(value: str) -> str:
    """A variable's value as Flux uses it: line breaks removed."""
    return value.replace("\n", "")


def bad_names(variables: Mapping[str, str]) -> list[str]:
    """Names Flux refuses (its reconcile fails on them)."""
    return sorted(name for name in variables if not VAR_NAME.match(name))
