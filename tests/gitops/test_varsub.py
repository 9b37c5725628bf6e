"""Flux's post-build substitution: the cases of fluxcd/pkg's envsubst tests, and what the
engine asks of it (one whole variable, escapes, the opt-out label)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from breakglass.gitops import varsub
from breakglass.gitops.varsub import Func, Text, Variable

# (variables, input, output) from fluxcd/pkg envsubst/eval_test.go TestExpand
FLUX_EXPAND = [
    ({}, "abcdEFGH28ij", "abcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${#var01}", "12"),
    ({"var01": "abcdEFGH28ij"}, "${var01^}", "AbcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${var01^^}", "ABCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,}", "aBCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,,}", "abcdefgh28ij"),
    ({"path_name": "/home/bozo/ideas/thoughts.for.today"}, "${path_name:11}", "ideas/thoughts.for.today"),
    ({"path_name": "/home/bozo/ideas/thoughts.for.today"}, "${path_name:11:5}", "ideas"),
    ({"var": "abc"}, "${var=xyz}", "abc"),
    ({}, "${var=xyz}", "xyz"),
    ({"default_var": "foo"}, "something ${var=${default_var}}", "something foo"),
    ({"default_var": "foo1"}, "foo: ${var=${default_var}-suffix}", "foo: foo1-suffix"),
    ({"default_var": "foo1"}, "foo: ${var=prefix${default_var}-suffix}", "foo: prefixfoo1-suffix"),
    ({}, "${var:=xyz}", "xyz"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/%abc/XYZ}", "abcABC123ABCXYZ"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/#abc/XYZ}", "XYZABC123ABCabc"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ//abc/xyz}", "xyzABC123ABCxyz"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/abc/xyz}", "xyzABC123ABCabc"),
    ({"filename": "bash.string.txt"}, "${filename#*.}", "string.txt"),
    ({"filename": "path/to/file"}, "${filename#*/}", "to/file"),
    ({"filename": "/path/to/file"}, "${filename#*/}", "path/to/file"),
    ({"filename": "bash.string.txt"}, "${filename##*.}", "txt"),
    ({"filename": "path/to/file"}, "${filename##*/}", "file"),
    ({"filename": "/path/to/file"}, "${filename##*/}", "file"),
    ({"filename": "bash.string.txt"}, "${filename%.*}", "bash.string"),
    ({"filename": "bash.string.txt"}, "${filename%%.*}", "bash"),
    ({"var01": "abcdEFGH28ij"}, "${var=${var01^^}}", "ABCDEFGH28IJ"),
    ({"var01": "abcdEFGH28ij"}, "$${var01}", "${var01}"),
    (
        {"var01": "abcdEFGH28ij"},
        "some text ${var01}$${var$${var01}$var01${var01}",
        "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
    ),
    ({"default_var": "foo"}, "something $${var=${default_var}}", "something ${var=foo}"),
    ({"stringZ": "foo/bar"}, r"${stringZ/\//-}", "foo-bar"),
    ({"stringZ": "foo/bar/baz"}, r"${stringZ//\//-}", "foo-bar-baz"),
    ({"default_var": "foo"}, "\\\\something ${var=${default_var}}", "\\\\something foo"),
    ({"stringZ": "foo.bar"}, "${stringZ/./}", "foobar"),
]  # fmt: skip


@pytest.mark.parametrize(("variables", "text", "expected"), FLUX_EXPAND)
def test_flux_expand_cases(variables, text, expected):
    assert varsub.substitute(text, variables) == expected


# fluxcd/pkg envsubst/eval_test.go TestExpandStrict: unset variables in strict mode
@pytest.mark.parametrize(
    "text",
    [
        "${missing}",
        "${#missing}",
        "${missing^}",
        "${missing^^}",
        "${missing,}",
        "${missing,,}",
        "${missing:0}",
        "${missing:0:10}",
        "${missing/pattern/replacement}",
        "${missing//pattern/replacement}",
        "${missing/#pattern/replacement}",
        "${missing/%pattern/replacement}",
        "${missing#pattern}",
        "${missing##pattern}",
        "${missing%pattern}",
        "${missing%%pattern}",
    ],
)
def test_strict_mode_refuses_an_unset_variable(text):
    with pytest.raises(varsub.SubstitutionError, match="missing"):
        varsub.substitute(text, {}, strict=True)
    varsub.substitute(text, {})  # without strict, unset is the empty string


@pytest.mark.parametrize(
    ("text", "expected"),
    [("${missing:-fallback}", "fallback"), ("${missing:=assigned}", "assigned"), ("${missing=assigned}", "assigned")],
)  # fmt: skip
def test_strict_mode_keeps_the_default_forms(text, expected):
    assert varsub.substitute(text, {}, strict=True) == expected


def test_unset_is_empty_and_an_empty_value_takes_the_default():
    assert varsub.substitute("a-${X}-b", {}) == "a--b"
    assert varsub.substitute("${X:=eu}", {"X": ""}) == "eu"
    assert varsub.substitute("${X=eu}", {"X": ""}) == "eu"  # Flux: empty counts as unset too
    assert varsub.substitute("${X:=eu}", {"X": "us"}) == "us"


# fluxcd/pkg envsubst/parse/parse_test.go: texts that are not expressions
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("}text", "}text"),
        ("http://github.com", "http://github.com"),
        ("$${string}", "${string}"),
        ("$$string", "$string"),
        (r"\\.\pipe\pipename", r"\\.\pipe\pipename"),
        ("$HOME and $(pwd)", "$HOME and $(pwd)"),
        ("cost: 5$", "cost: 5$"),
    ],
)
def test_text_that_is_not_an_expression(text, value):
    assert varsub.parse(text).nodes == (Text(value),)
    assert varsub.references(text) == set()


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("${string}", Func("string")),
        ("${string,}", Func("string", ",")),
        ("${string:position:length}", Func("string", ":", (Text("position"), Text("length")))),
        ("${string##substring}", Func("string", "##", (Text("substring"),))),
        ("${string/substring/replacement}", Func("string", "/", (Text("substring"), Text("replacement")))),
        ("${string:=default}", Func("string", ":=", (Text("default"),))),
        ("${#string}", Func("string", "#")),
    ],
)  # fmt: skip
def test_flux_parse_trees(text, node):
    assert varsub.parse(text).nodes == (node,)


@pytest.mark.parametrize("text", ["${", "${X", "${X-default}", "${ X}", "${X:}", "a ${b c}"])
def test_what_flux_cannot_parse(text):
    with pytest.raises(varsub.SubstitutionError):
        varsub.substitute(text, {"X": "1"})


@pytest.mark.parametrize(
    ("text", "variable"),
    [
        ("${REGION}", Variable("REGION", None, "${REGION}")),
        ("${REGION:=eu}", Variable("REGION", "eu", "${REGION:=eu}")),
        ("${REGION=eu}", Variable("REGION", "eu", "${REGION=eu}")),
        ("${REGION:-eu-west-1}", Variable("REGION", "eu-west-1", "${REGION:-eu-west-1}")),
        ("${REGION:=}", Variable("REGION", "", "${REGION:=}")),
    ],
)
def test_a_scalar_that_is_exactly_one_variable(text, variable):
    assert varsub.whole_variable(text) == variable


@pytest.mark.parametrize(
    "text",
    [
        "eu-${REGION}-1",
        "${A}${B}",
        "${REGION} ",
        "$${REGION}",
        "${REGION:=${FALLBACK}}",
        "${REGION^^}",
        "${REGION:+x}",
        "plain",
        "${broken",
    ],
)
def test_what_is_not_exactly_one_variable(text):
    assert varsub.whole_variable(text) is None


def test_a_variable_value_with_its_default():
    var = varsub.whole_variable("${REPLICAS:=2}")
    assert var is not None
    assert var.value({}) == "2"
    assert var.value({"REPLICAS": ""}) == "2"
    assert var.value({"REPLICAS": "5"}) == "5"
    bare = varsub.whole_variable("${REPLICAS}")
    assert bare is not None and bare.value({}) == ""


def test_references_inside_text_and_defaults():
    assert varsub.references("eu-${REGION}-${ZONE:=${DEFAULT_ZONE}}") == {
        "REGION",
        "ZONE",
        "DEFAULT_ZONE",
    }
    assert varsub.references("$${NOT_ONE} $X") == set()


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        ("echo ${HOME}", "echo $${HOME}"),
        ("$$", "$$$"),
        ("cost 5$", "cost 5$"),
        ("$HOME", "$HOME"),
        ("a$${b}", "a$$$${b}"),
    ],
)
def test_escape_writes_what_substitutes_back(value, written):
    assert varsub.escape(value) == written
    assert varsub.substitute(written, {"HOME": "/root", "b": "x"}) == value


@given(st.text(alphabet="${}:=ab\\/#%-", max_size=24))
def test_every_escaped_text_substitutes_back_to_itself(value):
    assert varsub.substitute(varsub.escape(value), {"a": "1", "b": "2"}) == value


@given(st.text(alphabet="${}:=ab\\/#%^,-", max_size=24))
def test_the_parser_never_crashes(text):
    with contextlib.suppress(varsub.SubstitutionError):
        varsub.substitute(text, {"a": "x", "b": ""})


def test_the_opt_out_label_or_annotation():
    key = "kustomize.toolkit.fluxcd.io/substitute"
    assert varsub.disabled({"metadata": {"labels": {key: "disabled"}}})
    assert varsub.disabled({"metadata": {"annotations": {key: "disabled"}}})
    assert not varsub.disabled({"metadata": {"annotations": {key: "enabled"}}})
    assert not varsub.disabled({"metadata": {}})


def test_variable_names_flux_accepts():
    assert varsub.bad_names({"REGION": "", "_x1": "", "1X": "", "a-b": "", "é": ""}) == [
        "1X",
        "a-b",
        "é",
    ]
    assert varsub.clean_value("eu\nwest\n") == "euwest"
