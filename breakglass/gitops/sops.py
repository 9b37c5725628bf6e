"""Keeping a SOPS-encrypted Secret encrypted when a human's change lands in it.

Many GitOps repositories keep Secrets in Git encrypted with SOPS for age recipients (Flux
decrypts them at apply time).  Such a file cannot be edited in place: SOPS's MAC covers every
value of the document, the plaintext ones (labels, ``type``) included, so even a label change
made by splicing text makes the file undecryptable ("MAC mismatch").  And breakglass holds
only public keys, so it cannot decrypt the old values to change one of them.

What it can do is what a person with ``sops -e`` does: write the whole document again in
plaintext and encrypt it for the recipients ``.sops.yaml`` names.  The plaintext comes from
the file itself (everything SOPS left readable, comments included) and from the Secret's
*current* values (the API server's, never a capture's: captures only hold redaction markers).
This module holds the pure decisions of that: which ``.sops.yaml`` and which creation rule
apply to a file, how the plaintext document is assembled, and whether what came back from the
encrypter really is encrypted.  Running the ``sops`` binary is the caller's edge
(``breakglass.sopsexec``), handed in as an ``Encrypt`` function.

No message raised here contains a value: errors name files, keys and rules only.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from breakglass.capture.redact import SECRET_FIELDS as SECRET_FIELDS
from breakglass.gitops import edit, roundtrip
from breakglass.gitops.edit import Op, RemoveOp, SetOp

JSON = Any

#: File names SOPS reads its configuration from, nearest directory first.
CONFIG_NAMES: Final = (".sops.yaml", ".sops.yml")

ENCRYPTED_VALUE: Final = re.compile(
    r"^ENC\[AES256_GCM,data:[^,\]]*,iv:[^,\]]+,tag:[^,\]]+,type:\w+\]$"
)
_ENCRYPTED_COMMENT_LINE: Final = re.compile(r"(?m)^[ \t]*#[ \t]*ENC\[AES256_GCM,[^\n]*\n?")
_MARKER: Final = "ENC[AES256_GCM,"
_REDACTED: Final = "<redacted"
#: Key types of a creation rule that need credentials or key material breakglass does not hold.
_OTHER_KEYS: Final = (
    "pgp",
    "kms",
    "gcp_kms",
    "azure_keyvault",
    "hc_vault_transit_uri",
    "hckms",
    "merkle_kms",
)

Encrypt = Callable[[str, str], str]
"""``encrypt(path, plaintext)``: the encrypted file for ``path`` (repository-relative), as
``sops --encrypt`` writes it with the repository's configuration; raises ``EncryptError``."""


class Refused(Exception):
    """The file cannot be re-encrypted; ``reason`` says why (it never carries a value)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EncryptError(Exception):
    """The encrypter failed; the message is safe to show (no plaintext in it)."""


@dataclass(frozen=True)
class Secrets:
    """What the engine needs to write a Secret encrypted: its current values and an encrypter.

    ``values`` maps each key of the live Secret's ``data`` to its base64 value, exactly as the
    API server serves it.  The ``breakglass backfill`` command takes them from NEW; the worker
    reads them from the cluster at backfill time and checks them against the capture first.
    """

    values: Mapping[str, str]
    encrypt: Encrypt

    def __repr__(self) -> str:  # never print values by accident
        return f"Secrets(keys={sorted(self.values)!r})"


@dataclass(frozen=True)
class Rule:
    """The creation rule of a ``.sops.yaml`` that covers one file."""

    config: str  # repository-relative path of the .sops.yaml
    number: int  # 1-based position in creation_rules, for messages
    recipients: tuple[str, ...]

    def describe(self) -> str:
        count = len(self.recipients)
        plural = "s" if count != 1 else ""
        return f"creation rule {self.number} of {self.config} ({count} age recipient{plural})"


@dataclass(frozen=True)
class Plaintext:
    """The document to hand to the encrypter, and what was lost assembling it."""

    text: str
    dropped_comments: int


# --------------------------------------------------------------------------------------------
# Recognising encrypted files and configuration


def is_encrypted(data: JSON) -> bool:
    """True for a document SOPS encrypted (a top-level ``sops`` block with a MAC)."""
    if not isinstance(data, dict):
        return False
    block = data.get("sops")
    return isinstance(block, dict) and ("mac" in block or "lastmodified" in block)


def config_for(path: str, exists: Callable[[str], bool]) -> str | None:
    """The ``.sops.yaml`` SOPS would use for ``path``: the nearest one in its directory or above."""
    directory = posixpath.dirname(path)
    while True:
        for name in CONFIG_NAMES:
            candidate = posixpath.join(directory, name) if directory else name
            if exists(candidate):
                return candidate
        if not directory:
            return None
        directory = posixpath.dirname(directory)


def covers(subpath: str, exists: Callable[[str], bool]) -> bool:
    """Whether a ``.sops.yaml`` covers the application at ``subpath`` (or the whole repo)."""
    probe = posixpath.join(subpath, "probe") if subpath else "probe"
    return config_for(probe, exists) is not None


def rule_for(config: str, text: str, path: str) -> Rule:
    """The creation rule of ``config`` (its text) that SOPS would apply to ``path``.

    SOPS takes the first rule whose ``path_regex`` matches the file's path relative to the
    configuration's directory (a rule without one matches every file).  Only age recipients
    are usable: a rule that also names PGP or a cloud KMS would need credentials breakglass
    does not hold, so it is refused rather than encrypted for half of its recipients.
    """
    try:
        data = roundtrip.to_plain(roundtrip.parse_chunk(text))
    except roundtrip.YamlError as exc:
        raise Refused(f"{config} is not valid YAML (line {exc.line}): {exc}") from None
    rules = data.get("creation_rules") if isinstance(data, dict) else None
    if not isinstance(rules, list) or not rules:
        raise Refused(f"{config} has no creation_rules, so it does not say whom to encrypt for")
    base = posixpath.dirname(config)
    relative = posixpath.relpath(path, base) if base else path
    for number, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict):
            raise Refused(f"creation rule {number} of {config} is not a mapping")
        pattern = rule.get("path_regex")
        if pattern is not None:
            try:
                matched = re.search(str(pattern), relative) is not None
            except re.error as exc:
                raise Refused(
                    f"path_regex of creation rule {number} of {config} is not a regular "
                    f"expression breakglass can read ({exc})"
                ) from None
            if not matched:
                continue
        return _usable_rule(config, number, rule)
    raise Refused(f"no creation rule of {config} matches {relative}, so SOPS would not encrypt it")


def _usable_rule(config: str, number: int, rule: dict[str, JSON]) -> Rule:
    groups = rule.get("key_groups")
    sources: list[dict[str, JSON]] = [rule]
    if isinstance(groups, list):
        sources.extend(g for g in groups if isinstance(g, dict))
    recipients: list[str] = []
    others: set[str] = set()
    for source in sources:
        recipients.extend(_recipients(source.get("age")))
        others.update(key for key in _OTHER_KEYS if source.get(key))
    if others:
        raise Refused(
            f"creation rule {number} of {config} also encrypts with {', '.join(sorted(others))}; "
            "breakglass encrypts only for age recipients (it holds no PGP keys or cloud "
            "credentials), and encrypting for some recipients only would lock the others out"
        )
    if not recipients:
        raise Refused(f"creation rule {number} of {config} names no age recipient")
    return Rule(config, number, tuple(dict.fromkeys(recipients)))


def _recipients(value: JSON) -> Iterator[str]:
    if isinstance(value, str):
        yield from (part.strip() for part in value.split(",") if part.strip())
    elif isinstance(value, list):
        for item in value:
            yield from _recipients(item)


# --------------------------------------------------------------------------------------------
# Values


def check_values(values: Mapping[str, JSON]) -> dict[str, str]:
    """The live ``data`` values, each checked to be base64 and not a redaction marker."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(value, str) or value.startswith(_REDACTED):
            raise Refused(
                f"the value of key {key} is not available (it was redacted), so the Secret "
                "cannot be re-encrypted"
            )
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(f"the value of key {key} is not base64 as a Secret's data is") from None
        out[str(key)] = value
    return out


def values_of(obj: Mapping[str, JSON]) -> dict[str, str]:
    """A Secret object's values as the API server would serve them (``stringData`` folded in)."""
    values: dict[str, str] = {}
    data = obj.get("data")
    if isinstance(data, dict):
        values.update({str(k): v for k, v in data.items()})
    string_data = obj.get("stringData")
    if isinstance(string_data, dict):
        for key, value in string_data.items():
            if isinstance(value, str) and not value.startswith(_REDACTED):
                value = base64.b64encode(value.encode("utf-8")).decode("ascii")
            values[str(key)] = value
    return values


def _text(value: str) -> str | None:
    """The UTF-8 text a base64 value holds, or None for binary data."""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


# --------------------------------------------------------------------------------------------
# Assembling the plaintext


def secret_plaintext(
    text: str,
    document: Mapping[str, JSON],
    *,
    path: str,
    values: Mapping[str, str],
    other_ops: Sequence[Op],
) -> Plaintext:
    """The plaintext of an encrypted Secret document after the human's change.

    ``text`` and ``document`` are the encrypted file as Git has it; ``values`` the Secret's
    current ``data``; ``other_ops`` the rest of the change (labels, annotations, ``type``).
    Keys keep the section they are in (``stringData`` values stay readable text when they
    still are); a key the human added goes to ``stringData`` when the file only uses that,
    else to ``data``; a key the human removed is removed.  Comments SOPS encrypted cannot be
    recovered and are dropped (counted, so the caller can say so).
    """
    _refuse_other_encrypted(document, path)
    cleaned, dropped = _ENCRYPTED_COMMENT_LINE.subn("", text)
    ops: list[Op] = [RemoveOp(("sops",))]
    expected: dict[str, dict[str, str]] = {}
    placed: set[str] = set()  # keys the file already has, kept or removed
    for section in SECRET_FIELDS:
        entries = document.get(section)
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise Refused(f"{path}: {section} is not a mapping of keys to values")
        expected[section] = {}
        for key, old in entries.items():
            key = str(key)
            placed.add(key)
            value = values.get(key)
            if value is None:
                ops.append(RemoveOp((section, key)))
                continue
            if section == "stringData":
                readable = _text(value)
                if readable is None:
                    raise Refused(
                        f"{path}: stringData key {key} now holds binary data, which stringData "
                        "cannot carry; move it to data by hand"
                    )
                value = readable
            expected[section][key] = value
            # Swapping the ciphertext token for the value keeps this linear in the number of
            # keys; an edit operation (which re-reads the document) is the fallback.
            cleaned, swapped = _swap_token(cleaned, old, value)
            if not swapped:
                ops.append(SetOp((section, key), value))
    only_string_data = "stringData" in document and "data" not in document
    for key in sorted(set(values) - placed):
        readable = _text(values[key]) if only_string_data else None
        section = "stringData" if readable is not None else "data"
        value = readable if readable is not None else values[key]
        expected.setdefault(section, {})[key] = value
        ops.append(SetOp((section, key), value))
    ops.extend(other_ops)
    try:
        plaintext = edit.edit_text(cleaned, ops)
        result = roundtrip.to_plain(roundtrip.parse_chunk(plaintext))
    except (edit.EditError, roundtrip.YamlError):
        # the message of an edit error may quote values; say only where it happened
        raise Refused(f"{path}: the decrypted form of the file could not be assembled") from None
    if _MARKER in plaintext:
        raise Refused(f"{path}: encrypted text is left that breakglass cannot decrypt")
    for section, entries in expected.items():
        if not isinstance(result, dict) or (result.get(section) or {}) != entries:
            raise Refused(f"{path}: the decrypted form of {section} did not read back as written")
    return Plaintext(plaintext, dropped)


def _swap_token(text: str, token: JSON, value: str) -> tuple[str, bool]:
    """``text`` with the one plain ``key: ENC[...]`` scalar ``token`` replaced by ``value``."""
    if not isinstance(token, str) or not ENCRYPTED_VALUE.match(token):
        return text, False
    pattern = re.compile(r"(?m)(?<=: )" + re.escape(token) + r"(?=[ \t]*(?:#.*)?$)")
    if len(pattern.findall(text)) != 1:
        return text, False
    rendered = roundtrip.render_scalar(value, style=roundtrip.Style())
    return pattern.sub(lambda _: rendered, text), True


def new_secret_plaintext(
    obj: Mapping[str, JSON], *, values: Mapping[str, str], style: roundtrip.Style
) -> str:
    """The plaintext of a Secret created by hand, ready for the encrypter."""
    content = {k: v for k, v in obj.items() if k not in SECRET_FIELDS}
    if values:
        content["data"] = dict(sorted(values.items()))
    return roundtrip.render_document(content, style)


def _refuse_other_encrypted(document: Mapping[str, JSON], path: str) -> None:
    for where, value in _leaves(document, ()):
        if where and where[0] in ("sops", *SECRET_FIELDS):
            continue
        if isinstance(value, str) and value.startswith(_MARKER):
            raise Refused(
                f"{path}: {edit.format_path(where)} is encrypted too, and breakglass cannot "
                "decrypt it to write the file again (only data and stringData can be rebuilt "
                "from the live Secret)"
            )


def _leaves(value: JSON, where: tuple[str | int, ...]) -> Iterator[tuple[edit.Path, JSON]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*where, str(key)))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _leaves(item, (*where, position))
    else:
        yield where, value


# --------------------------------------------------------------------------------------------
# Checking the result


def check_encrypted(text: str, *, path: str) -> None:
    """Refuse an encrypter's output unless every Secret value in it is SOPS ciphertext.

    This catches a creation rule whose ``encrypted_regex`` leaves ``data`` out, which would
    otherwise put the values into Git in the clear.
    """
    try:
        chunks = roundtrip.split_documents(text)
        documents = [roundtrip.to_plain(roundtrip.parse_chunk(c.text)) for c in chunks]
    except roundtrip.YamlError:
        raise Refused(f"{path}: sops did not return YAML") from None
    documents = [d for d in documents if d is not None]
    if len(documents) != 1 or not is_encrypted(documents[0]):
        raise Refused(f"{path}: sops did not return one encrypted document")
    for section in SECRET_FIELDS:
        entries = documents[0].get(section)
        if entries is None:
            continue
        if not isinstance(entries, dict) or not all(
            isinstance(v, str) and ENCRYPTED_VALUE.match(v) for v in entries.values()
        ):
            raise Refused(
                f"{path}: sops left {section} unencrypted (check encrypted_regex / "
                "unencrypted_suffix in .sops.yaml); nothing was written"
            )


def scrub(message: str, values: Mapping[str, str]) -> str:
    """``message`` with every secret value (base64 or decoded) replaced by ``<redacted>``."""
    forms: set[str] = set()
    for value in values.values():
        forms.add(value)
        readable = _text(value)
        if readable:
            forms.add(readable)
            forms.update(line for line in readable.splitlines() if len(line) >= 4)
    for form in sorted((f for f in forms if f), key=len, reverse=True):
        message = message.replace(form, "<redacted>")
    return message
