"""The pure half of SOPS support: which rule applies, how the plaintext is assembled, and what
counts as safely encrypted.  The real ``sops`` binary is exercised in ``test_sops_engine``."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from breakglass.gitops import edit, roundtrip, sops

AGE_A = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"
AGE_B = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def enc(tag: str = "str") -> str:
    return f"ENC[AES256_GCM,data:bm9wZQ==,iv:aXY=,tag:dGFn,type:{tag}]"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- which configuration, which rule --------------------------------------------------------


def test_the_nearest_config_applies() -> None:
    files = {".sops.yaml", "apps/shop/.sops.yml"}
    assert sops.config_for("apps/shop/db.yaml", files.__contains__) == "apps/shop/.sops.yml"
    assert sops.config_for("apps/web/db.yaml", files.__contains__) == ".sops.yaml"
    assert sops.config_for("db.yaml", set().__contains__) is None
    assert sops.covers("apps/web", files.__contains__)
    assert not sops.covers("apps/web", set().__contains__)


def test_the_first_matching_rule_wins_relative_to_the_config() -> None:
    config = f"""
creation_rules:
  - path_regex: ^prod/.*\\.yaml$
    age: {AGE_A}, {AGE_B}
  - path_regex: .*\\.yaml$
    key_groups:
      - age: [{AGE_B}]
"""
    prod = sops.rule_for("clusters/.sops.yaml", config, "clusters/prod/db.yaml")
    assert (prod.number, prod.recipients) == (1, (AGE_A, AGE_B))
    other = sops.rule_for("clusters/.sops.yaml", config, "clusters/dev/db.yaml")
    assert (other.number, other.recipients) == (2, (AGE_B,))
    assert other.describe() == "creation rule 2 of clusters/.sops.yaml (1 age recipient)"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("creation_rules:\n  - path_regex: ^other/\n    age: X\n", "no creation rule of"),
        ("{}\n", "has no creation_rules"),
        ("creation_rules: [\n", "is not valid YAML"),
        ("creation_rules:\n  - path_regex: '(['\n    age: X\n", "is not a regular expression"),
        ("creation_rules:\n  - encrypted_regex: ^data$\n", "names no age recipient"),
        (
            f"creation_rules:\n  - age: {AGE_A}\n    kms: arn:aws:kms:eu-west-1:1:key/x\n",
            "also encrypts with kms",
        ),
        (
            f"creation_rules:\n  - key_groups:\n      - age: [{AGE_A}]\n        pgp: [ABCDEF]\n",
            "also encrypts with pgp",
        ),
        ("creation_rules:\n  - just-a-string\n", "is not a mapping"),
    ],
)
def test_unusable_configurations_are_refused_with_a_reason(config: str, message: str) -> None:
    with pytest.raises(sops.Refused) as refused:
        sops.rule_for(".sops.yaml", config, "shop/db.yaml")
    assert message in refused.value.reason


# -- values -------------------------------------------------------------------------------


def test_values_must_be_real_base64_and_errors_never_quote_them() -> None:
    assert sops.check_values({"a": b64("x")}) == {"a": b64("x")}
    with pytest.raises(sops.Refused) as redacted:
        sops.check_values({"token": "<redacted:0123456789abcdef>"})
    assert "token" in redacted.value.reason and "0123456789" not in redacted.value.reason
    with pytest.raises(sops.Refused) as garbage:
        sops.check_values({"token": "hunter2!"})
    assert "hunter2" not in garbage.value.reason


def test_string_data_is_folded_into_data() -> None:
    obj = {"data": {"a": b64("one")}, "stringData": {"b": "two"}}
    assert sops.values_of(obj) == {"a": b64("one"), "b": b64("two")}


def test_scrub_removes_both_forms_of_a_value() -> None:
    values = {"password": b64("correct horse\nbattery staple")}
    message = f"bad {values['password']} near 'battery staple' and correct horse"
    scrubbed = sops.scrub(message, values)
    assert "battery" not in scrubbed and "horse" not in scrubbed
    assert values["password"] not in scrubbed


# -- assembling the plaintext ----------------------------------------------------------------

ENCRYPTED = f"""\
# credentials of the shop database
apiVersion: v1
kind: Secret
metadata:
    name: db # the primary
    labels:
        app: shop
type: Opaque
stringData:
    #{enc("comment")}
    username: {enc()}
    motd: {enc()}
data:
    password: {enc()}
sops:
    age:
        - recipient: {AGE_A}
          enc: |
            -----BEGIN AGE ENCRYPTED FILE-----
            -----END AGE ENCRYPTED FILE-----
    lastmodified: "2026-01-01T00:00:00Z"
    mac: {enc()}
    version: 3.13.3
"""


def document(text: str) -> dict[str, object]:
    data = roundtrip.to_plain(roundtrip.parse_chunk(text))
    assert isinstance(data, dict)
    return data


def test_plaintext_takes_live_values_and_keeps_what_sops_left_readable() -> None:
    values = {
        "username": b64("shop"),
        "password": b64("n3w-pa55"),
        "cert": base64.b64encode(b"\x00\xffbinary").decode(),
    }
    plain = sops.secret_plaintext(
        ENCRYPTED,
        document(ENCRYPTED),
        path="shop/db.yaml",
        values=values,
        other_ops=[edit.SetOp(("metadata", "labels", "tier"), "db")],
    )
    assert plain.dropped_comments == 1
    assert "ENC[" not in plain.text and "sops:" not in plain.text
    assert "# credentials of the shop database" in plain.text
    assert "name: db # the primary" in plain.text
    result = document(plain.text)
    assert result["stringData"] == {"username": "shop"}  # motd was removed by the human
    assert result["data"] == {"password": values["password"], "cert": values["cert"]}
    assert result["metadata"] == {"name": "db", "labels": {"app": "shop", "tier": "db"}}


def test_new_text_keys_join_a_string_data_only_file() -> None:
    text = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  a: {enc()}\n"
    text += f"sops:\n  mac: {enc()}\n  lastmodified: x\n"
    plain = sops.secret_plaintext(
        text, document(text), path="db.yaml", values={"a": b64("1"), "b": b64("2")}, other_ops=[]
    )
    assert document(plain.text)["stringData"] == {"a": "1", "b": "2"}
    assert "data" not in document(plain.text)


def test_binary_data_cannot_stay_in_string_data() -> None:
    text = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  a: {enc()}\n"
    binary = base64.b64encode(b"\xff\xfe").decode()
    with pytest.raises(sops.Refused, match="binary data"):
        sops.secret_plaintext(
            text, document(text), path="db.yaml", values={"a": binary}, other_ops=[]
        )


def test_other_encrypted_fields_are_refused() -> None:
    text = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  annotations:\n    x: {enc()}\n"
    with pytest.raises(sops.Refused, match=r"metadata\.annotations\.x is encrypted too"):
        sops.secret_plaintext(text, document(text), path="db.yaml", values={}, other_ops=[])


def test_a_created_secret_carries_data_in_order() -> None:
    text = sops.new_secret_plaintext(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {"z": "1"}},
        values={"z": b64("1"), "a": b64("2")},
        style=roundtrip.Style(),
    )
    assert document(text)["data"] == {"a": b64("2"), "z": b64("1")}
    assert "stringData" not in text


# -- checking the encrypter's output ----------------------------------------------------------


def test_output_must_be_encrypted_everywhere_a_value_lives() -> None:
    good = f"kind: Secret\ndata:\n    a: {enc()}\nsops:\n    mac: {enc()}\n    lastmodified: x\n"
    sops.check_encrypted(good, path="db.yaml")
    leaked = (
        f"kind: Secret\ndata:\n    a: aHVudGVyMg==\nsops:\n    mac: {enc()}\n    lastmodified: x\n"
    )
    with pytest.raises(sops.Refused, match="left data unencrypted"):
        sops.check_encrypted(leaked, path="db.yaml")
    with pytest.raises(sops.Refused, match="one encrypted document"):
        sops.check_encrypted("kind: Secret\ndata:\n  a: x\n", path="db.yaml")


def test_secrets_never_print_their_values() -> None:
    secrets = sops.Secrets({"password": b64("hunter2")}, lambda path, text: text)
    assert "aHVudGVy" not in repr(secrets) and "password" in repr(secrets)


@given(
    values=st.dictionaries(
        st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True), st.text(max_size=40), max_size=6
    ),
    binary=st.binary(max_size=20),
)
def test_any_text_or_bytes_reads_back_exactly(values: dict[str, str], binary: bytes) -> None:
    keys = sorted(values)
    text = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n"
    if keys:
        text += "stringData:\n" + "".join(
            f'    "{k}": {enc()[:-1]}{n}]\n' for n, k in enumerate(keys)
        )
    text += f"data:\n    blob: {enc()}\nsops:\n    mac: {enc()}\n    lastmodified: x\n"
    live = {k: b64(v) for k, v in values.items()}
    live["blob"] = base64.b64encode(binary).decode()
    plain = sops.secret_plaintext(text, document(text), path="db.yaml", values=live, other_ops=[])
    result = document(plain.text)
    assert result.get("stringData", {}) == values
    assert result["data"] == {"blob": live["blob"]}
