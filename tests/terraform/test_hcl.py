"""Navigation of HCL files: blocks, attributes, expression kinds, literal values, traversals,
references and syntax errors."""

from __future__ import annotations

import pytest

from breakglass.terraform.hcl import Document, Expr, HclSyntaxError, NotLiteral, Span

MAIN = """\
# the web tier
resource "kubernetes_deployment" "web" {
  metadata {
    name = "web"
    labels = {
      app                      = "web"
      "app.kubernetes.io/name" = "web" // quoted key
    }
  }

  spec {
    replicas = 3
    template {
      spec {
        container {
          name  = "web"
          image = "nginx:${var.tag}"
        }
        container {
          name  = "sidecar"
          image = upper(var.sidecar)
        }
      }
    }
  }
}

resource "kubernetes_deployment" "api" {}

variable "tag" {
  type    = string
  default = "1.25"
}

module "app" {
  source   = "./app"
  replicas = local.replicas
}
"""


def expr_of(value: str) -> Expr:
    """The expression of `x = <value>` in a one-attribute file."""
    doc = Document.parse(f"x = {value}\n", path="t.tf")
    attribute = doc.body.attribute("x")
    assert attribute is not None
    return attribute.expr


# --- blocks and attributes -----------------------------------------------------------------


def test_blocks_by_type_and_label_prefix() -> None:
    doc = Document.parse(MAIN, path="main.tf")
    assert [b.labels for b in doc.body.blocks("resource")] == [
        ("kubernetes_deployment", "web"),
        ("kubernetes_deployment", "api"),
    ]
    assert [b.labels for b in doc.body.blocks("resource", "kubernetes_deployment", "api")] == [
        ("kubernetes_deployment", "api")
    ]
    assert doc.body.blocks("resource", "aws_instance") == []
    assert [b.type for b in doc.body.blocks()] == ["resource", "resource", "variable", "module"]
    assert doc.body.attributes() == []


def test_nested_blocks_and_attributes() -> None:
    doc = Document.parse(MAIN, path="main.tf")
    web = doc.body.blocks("resource", "kubernetes_deployment", "web")[0]
    assert web.line == 2
    spec = web.body.blocks("spec")[0]
    replicas = spec.body.attribute("replicas")
    assert replicas is not None
    assert replicas.line == 12
    assert replicas.expr.value() == 3
    pod = spec.body.blocks("template")[0].body.blocks("spec")[0]
    containers = pod.body.blocks("container")
    assert len(containers) == 2
    second = containers[1].body.attribute("name")
    assert second is not None
    assert second.expr.value() == "sidecar"
    assert [a.name for a in containers[0].body.attributes()] == ["name", "image"]
    assert containers[0].body.attribute("missing") is None


def test_body_span_is_inside_the_braces() -> None:
    doc = Document.parse(MAIN, path="main.tf")
    data = doc.source
    web = doc.body.blocks("resource", "kubernetes_deployment", "web")[0]
    assert data[web.body.span.start - 1 : web.body.span.start] == b"{"
    assert data[web.body.span.end : web.body.span.end + 1] == b"}"
    api = doc.body.blocks("resource", "kubernetes_deployment", "api")[0]
    assert api.body.span.start == api.body.span.end
    assert api.body.attributes() == []
    assert api.body.blocks() == []
    assert doc.body.span == Span(0, len(data))


def test_attribute_and_expression_spans_are_utf8_byte_offsets() -> None:
    text = '# é — 監視\nname = "grüß"\nother = 1\n'
    doc = Document.parse(text, path="t.tfvars")
    attribute = doc.body.attribute("name")
    assert attribute is not None
    data = text.encode()
    assert data[attribute.span.start : attribute.span.end] == 'name = "grüß"'.encode()
    assert data[attribute.expr.span.start : attribute.expr.span.end] == '"grüß"'.encode()
    assert attribute.expr.text == '"grüß"'
    assert attribute.line == 2
    assert attribute.expr.line == 2


def test_tfvars_top_level_attributes() -> None:
    doc = Document.parse('region = "eu"\nreplicas = 3 # comment\n', path="prod.tfvars")
    assert [(a.name, a.expr.value()) for a in doc.body.attributes()] == [
        ("region", "eu"),
        ("replicas", 3),
    ]


def test_labels_unquoted_and_identifier_labels() -> None:
    doc = Document.parse('thing ident "qu\\"oted" {}\n', path="t.tf")
    assert doc.body.blocks()[0].labels == ("ident", 'qu"oted')


def test_empty_and_comment_only_files() -> None:
    assert Document.parse("", path="empty.tf").body.attributes() == []
    doc = Document.parse("# nothing\n/* at all */\n", path="c.tf")
    assert doc.body.blocks() == []
    assert len(doc.comments) == 2


def test_newline_style() -> None:
    assert Document.parse("a = 1\r\nb = 2\r\n", path="t.tf").newline == "\r\n"
    assert Document.parse("a = 1\nb = 2\n", path="t.tf").newline == "\n"


# --- kinds and literal values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind", "value"),
    [
        ("1", "number", 1),
        ("-7", "number", -7),
        ("2.5", "number", 2.5),
        ("1.5e3", "number", 1500.0),
        ("true", "bool", True),
        ("false", "bool", False),
        ("null", "null", None),
        ('"plain"', "string", "plain"),
        ('""', "string", ""),
        ('"q\\"b\\\\n\\n\\t\\u00e9\\U0001F600"', "string", 'q"b\\n\n\té😀'),
        ('"$${x} %%{y} $$ %"', "string", "${x} %{y} $$ %"),
        ('"\\u0024$${x}"', "string", "$${x}"),
        ("[]", "tuple", []),
        ('[1, "a", [true]]', "tuple", [1, "a", [True]]),
        ("{}", "object", {}),
        (
            '{ a = 1, "b.c" : [null], d = { e = "f" } }',
            "object",
            {"a": 1, "b.c": [None], "d": {"e": "f"}},
        ),
        ("{\n  a = 1\n  b = 2\n}", "object", {"a": 1, "b": 2}),
    ],
)
def test_literal_values(source: str, kind: str, value: object) -> None:
    expr = expr_of(source)
    assert expr.kind == kind
    assert expr.is_literal()
    assert expr.value() == value
    assert type(expr.value()) is type(value)


def test_heredoc_values() -> None:
    plain = expr_of("<<EOT\n  keep\n    indentation\nEOT")
    assert plain.kind == "heredoc"
    assert plain.value() == "  keep\n    indentation\n"
    flush = expr_of("<<-EOT\n    strip\n      common\n\n    indent\n    EOT")
    assert flush.value() == "strip\n  common\n\nindent\n"
    escaped = expr_of("<<EOT\nliteral $${x} and %%{y}\nEOT")
    assert escaped.is_literal()
    assert escaped.value() == "literal ${x} and %{y}\n"
    crlf = Document.parse("x = <<EOT\r\none\r\ntwo\r\nEOT\r\n", path="t.tf").body.attribute("x")
    assert crlf is not None
    assert crlf.expr.value() == "one\ntwo\n"
    parts = flush.heredoc_parts()
    assert parts is not None
    assert parts.flush
    assert parts.marker == "EOT"


@pytest.mark.parametrize(
    "source",
    [
        "upper(var.x)",
        '"x${var.y}"',
        '"${var.x}"',
        '"%{if true}a%{endif}"',
        "<<EOT\nhello ${var.name}\nEOT",
        "<<EOT\n%{for x in var.l}${x}%{endfor}\nEOT",
        "var.x",
        "[for v in var.l : v]",
        "{ (var.k) = 1 }",
        "{ a = var.x }",
        "[1, var.x]",
        "1 + 2",
        "true ? 1 : 2",
        "-var.x",
        "(1)",
    ],
)
def test_not_literal(source: str) -> None:
    expr = expr_of(source)
    assert not expr.is_literal()
    with pytest.raises(NotLiteral):
        expr.value()


def test_expression_kinds_of_non_literals() -> None:
    assert expr_of("upper(var.x)").kind == "other"
    assert expr_of('"x${var.y}"').kind == "string"
    assert expr_of("<<EOT\n${var.y}\nEOT").kind == "heredoc"
    assert expr_of("var.x").kind == "traversal"
    assert expr_of("var.l[*].id").kind == "other"
    assert expr_of("[for v in var.l : v]").kind == "other"


def test_object_items() -> None:
    expr = expr_of('{\n  app = "web" # c\n  "app.kubernetes.io/name" : "web",\n  n = 1\n}')
    items = expr.items()
    assert [item.key for item in items] == ["app", "app.kubernetes.io/name", "n"]
    data = expr.text.encode()
    base = expr.span.start
    second = items[1]
    assert data[second.key_span.start - base : second.key_span.end - base] == (
        b'"app.kubernetes.io/name"'
    )
    assert data[second.span.start - base : second.span.end - base] == (
        b'"app.kubernetes.io/name" : "web"'
    )
    assert second.value.value() == "web"
    assert expr_of("[1]").items() == []
    assert expr_of("{ a = 1 }").elements() == []
    assert [e.value() for e in expr_of("[1, 2,]").elements()] == [1, 2]


def test_non_literal_key_is_its_source_text() -> None:
    expr = expr_of("{ (var.k) = 1, b = 2 }")
    assert [item.key for item in expr.items()] == ["(var.k)", "b"]


# --- traversals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("var.x", ("var", "x")),
        ("var.x.y", ("var", "x", "y")),
        ('var.m["k"]', ("var", "m", "k")),
        ('var.m["a.b"].c', ("var", "m", "a.b", "c")),
        ("var.l[0]", ("var", "l", "0")),
        ("var.l.0", ("var", "l", "0")),
        ("each.value.data", ("each", "value", "data")),
        ("local.a", ("local", "a")),
        ("module.app.url", ("module", "app", "url")),
        ("count.index", ("count", "index")),
    ],
)
def test_traversal(source: str, path: tuple[str, ...]) -> None:
    expr = expr_of(source)
    assert expr.traversal() == path
    assert expr.kind == "traversal"


@pytest.mark.parametrize(
    "source",
    [
        # a template that is exactly one interpolation converts to a string: not the traversal
        '"${var.x}"',
        "upper(var.x)",
        "var.m[var.k]",
        "var.l[*].id",
        "var.a + 1",
        "(var.x)",
        '"a-${var.x}"',
        "1",
    ],
)
def test_no_traversal(source: str) -> None:
    assert expr_of(source).traversal() is None


# --- references ----------------------------------------------------------------------------


def test_references_everywhere() -> None:
    text = """\
locals {
  a = "${var.in_template}-x"
  b = upper(var.in_function)
  c = [for k, v in var.in_for : v if k != local.in_condition]
  d = <<EOT
hello ${var.in_heredoc}
EOT
  e = var.m[var.in_index].field
  f = { count = 1, data = 2, key = data.aws_ami.ubuntu.id }
  g = each.value.data
  h = module.app.url
  i = count.index
  j = var.l[*].id
}
"""
    doc = Document.parse(text, path="refs.tf")
    found = [path for path, _ in doc.references()]
    assert found == [
        ("var", "in_template"),
        ("var", "in_function"),
        ("var", "in_for"),
        ("local", "in_condition"),
        ("var", "in_heredoc"),
        ("var", "m"),
        ("var", "in_index"),
        ("data", "aws_ami", "ubuntu", "id"),
        ("each", "value", "data"),
        ("module", "app", "url"),
        ("count", "index"),
        ("var", "l"),
    ]
    data = text.encode()
    spans = dict(doc.references())
    span = spans[("var", "in_heredoc")]
    assert data[span.start : span.end] == b"var.in_heredoc"
    span = spans[("data", "aws_ami", "ubuntu", "id")]
    assert data[span.start : span.end] == b"data.aws_ami.ubuntu.id"


def test_references_ignore_other_roots_and_plain_keys() -> None:
    doc = Document.parse("x = { var = 1, local = 2 }\ny = self.id\nz = path.module\n", path="t.tf")
    assert doc.references() == []


# --- syntax errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('resource "x" "y" {\n  a = 1\n  b 2\n}\n', 3, 3),
        ("a = {\n  b = \n}\n", 2, 3),
        ("a = 1\n}\n", 2, 1),
        ('resource "x" "y" {\n  a = 1\n', 3, 1),
        ('a = "é" b\n', 1, 9),
    ],
)
def test_syntax_error_names_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(HclSyntaxError) as caught:
        Document.parse(text, path="broken.tf")
    error = caught.value
    assert (error.path, error.line, error.column) == ("broken.tf", line, column)
    assert str(error).startswith(f"broken.tf:{line}:{column}: ")
    assert isinstance(error, ValueError)


def test_syntax_error_says_what_was_found() -> None:
    with pytest.raises(HclSyntaxError, match=r"unexpected 'b 2'"):
        Document.parse("x {\n  a = 1\n  b 2\n}\n", path="t.tf")
    with pytest.raises(HclSyntaxError, match=r"missing '\}'"):
        Document.parse("x {\n  a = 1\n", path="t.tf")


def test_heredoc_at_end_of_file_without_newline_parses() -> None:
    doc = Document.parse("x = <<EOT\nhello\nEOT", path="t.tf")
    attribute = doc.body.attribute("x")
    assert attribute is not None
    assert attribute.expr.value() == "hello\n"
