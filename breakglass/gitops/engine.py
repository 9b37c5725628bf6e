"""The backfill engine: from two versions of a live object to new file contents.

This is the orchestration the ``backfill`` command and the worker share.  It validates the
input, computes the human's delta without server noise, refuses what must not be written
(Secret values), locates the owning manifest (plain, kustomize, a kustomize generator or
Helm), routes each change to the file that holds it and edits those files as text (a
``.json`` file as data, re-serialised in its own layout by ``jsonfile``).  It
writes nothing: the result is a value — ``Changed`` (new contents per path, ``None`` for a
deleted file), ``NoChange`` (Git already says this) or ``CannotExpress`` (why, and the delta
to show a human) — and the caller decides what to do with it.  Only reading goes through the
``Index`` edge.
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from breakglass import delta, errors
from breakglass.capture.redact import redacted_paths
from breakglass.gitops import (
    defaults,
    edit,
    fluxvars,
    generators,
    helm,
    index,
    jsonfile,
    kustomize,
    locate,
    postbuild,
    roundtrip,
    sops,
)
from breakglass.gitops.edit import AddItemOp, Op, RemoveOp, SetOp

JSON = Any

_DNS_NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9._:]{0,251}[a-z0-9])?$")
_HEAD_KEYS: Final = ("apiVersion", "kind", "metadata")
_KIND: Final = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_SHORT_KINDS: Final = {
    "Deployment": ("deploy", "deployment"),
    "Service": ("svc", "service"),
    "ConfigMap": ("cm", "configmap"),
    "ServiceAccount": ("sa", "serviceaccount"),
    "Ingress": ("ing", "ingress"),
    "HorizontalPodAutoscaler": ("hpa",),
    "PodDisruptionBudget": ("pdb",),
    "StatefulSet": ("sts", "statefulset"),
    "DaemonSet": ("ds", "daemonset"),
    "CronJob": ("cronjob", "cj"),
    "NetworkPolicy": ("networkpolicy", "netpol", "np"),
    "PersistentVolumeClaim": ("pvc",),
    "RoleBinding": ("rolebinding", "rb"),
    "ClusterRoleBinding": ("clusterrolebinding", "crb"),
}


@dataclass(frozen=True)
class Changed:
    files: dict[str, str | None]  # path → new text, or None when the file is deleted
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoChange:
    reason: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CannotExpress:
    reason: str
    delta: str
    notes: tuple[str, ...] = ()


Result = Changed | NoChange | CannotExpress


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Context:
    idx: index.Index
    tree: kustomize.Tree
    subpath: str
    secrets: sops.Secrets | None = None
    applications: Sequence[Mapping[str, JSON]] = ()
    kustomizations: Sequence[Mapping[str, JSON]] = ()
    #: where a manifest without a namespace lands (Argo CD's destination namespace)
    namespace: str = ""
    notes: list[str] = field(default_factory=list)
    cache: dict[str, str] = field(default_factory=dict)
    exact: dict[str, str] = field(default_factory=dict)

    def read(self, path: str) -> str:
        if path not in self.cache:
            self.cache[path] = self.idx.read(path)
        return self.cache[path]

    def read_exact(self, path: str) -> str:
        if path not in self.exact:
            self.exact[path] = self.idx.read_exact(path)
        return self.exact[path]


# --------------------------------------------------------------------------------------------
# Input


def check_object(obj: JSON, *, label: str) -> dict[str, JSON]:
    """``obj`` if it is a usable Kubernetes object; otherwise an ``InputError`` saying why."""
    if not isinstance(obj, dict):
        raise errors.InputError(f"{label}: not a Kubernetes object (expected a mapping)")
    if obj.get("kind") == "List" or isinstance(obj.get("items"), list):
        raise errors.InputError(f"{label}: a List; pass one object")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not api_version:
        raise errors.InputError(f"{label}: not a Kubernetes object (no apiVersion)")
    if not isinstance(kind, str) or not kind:
        raise errors.InputError(f"{label}: not a Kubernetes object (no kind)")
    if not _KIND.match(kind):
        raise errors.InputError(f"{label}: unknown kind {kind!r} (kinds are CamelCase words)")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise errors.InputError(f"{label}: not a Kubernetes object (no metadata.name)")
    for key in ("name", "namespace"):
        value = meta.get(key)
        if value is not None and (not isinstance(value, str) or not _DNS_NAME.match(value)):
            raise errors.InputError(f"{label}: metadata.{key} {value!r} is not a valid name")
    return obj


def _identity(obj: Mapping[str, JSON]) -> tuple[str, str, str, str | None]:
    meta = obj["metadata"]
    return (
        index.group_of(str(obj["apiVersion"])),
        str(obj["kind"]),
        str(meta["name"]),
        meta.get("namespace") or None,
    )


# --------------------------------------------------------------------------------------------
# The engine


def backfill(
    idx: index.Index,
    old: JSON | None,
    new: JSON | None,
    *,
    subpath: str = "",
    secrets: sops.Secrets | None = None,
    applications: Sequence[Mapping[str, JSON]] = (),
    kustomizations: Sequence[Mapping[str, JSON]] = (),
    namespace: str = "",
) -> Result:
    """Work out the file changes that write the human's change into the repository.

    ``secrets`` lets a Secret whose manifest is SOPS-encrypted be written (encrypted again for
    the repository's age recipients); without it such a change cannot be expressed.
    ``applications`` are Argo CD Applications read from the cluster, for a Helm chart whose
    Application is not kept in this repository.  ``kustomizations`` are the Flux
    Kustomizations read from the cluster that applied the object: when several manifests of
    the repository could be the one whose post-build variables it uses, the one that says what
    the cluster's says is chosen.  ``namespace`` is where manifests that name none land (an
    Argo CD Application's destination): an object created there by hand is written beside
    them.
    """
    if old is None and new is None:
        raise errors.InputError("give the object before (--old), after (--new), or both")
    if old is not None:
        check_object(old, label="OLD")
    if new is not None:
        check_object(new, label="NEW")
    if old is not None and new is not None and _identity(old) != _identity(new):
        raise errors.InputError(
            "OLD and NEW are different objects: "
            f"{'/'.join(str(p) for p in _identity(old))} vs "
            f"{'/'.join(str(p) for p in _identity(new))}"
        )
    live = new if new is not None else old
    assert live is not None
    group, kind, name, where = _identity(live)
    wanted = locate.Wanted(group, kind, name, where)
    subpath = subpath.strip("/")
    if subpath in (".", ""):
        subpath = ""
    ctx = _Context(
        idx, kustomize.Tree.build(idx), subpath, secrets, applications, kustomizations, namespace
    )
    ctx.notes.extend(idx.problems())
    ctx.notes.extend(ctx.tree.notes)
    stripped_old = delta.strip_server_fields(old) if old is not None else None
    stripped_new = delta.strip_server_fields(new) if new is not None else None
    if stripped_new is not None and old is None:
        stripped_new = defaults.clean_object(stripped_new)
    before, after = delta.sparse_delta(stripped_old, stripped_new)
    shown = _show_delta(kind, group, before, after)
    marked = redacted_paths(after, secret=_is_secret(group, kind))
    if marked:
        return CannotExpress(_redacted_reason(marked), shown, tuple(ctx.notes))
    try:
        if old is not None and new is not None:
            result = _update(ctx, wanted, live, stripped_old or {}, before, after, shown)
        elif new is None:
            result = _delete(ctx, wanted, shown)
        else:
            result = _create(ctx, wanted, stripped_new or {}, shown)
        return _keep_line_breaks(ctx, result)
    except _Refused as refused:
        return CannotExpress(refused.reason, shown, tuple(ctx.notes))
    except edit.EditError as exc:
        return CannotExpress(f"the file could not be edited safely: {exc}", shown, tuple(ctx.notes))
    except (roundtrip.YamlError, jsonfile.JsonError) as exc:
        return CannotExpress(f"a file could not be read: {exc}", shown, tuple(ctx.notes))
    except sops.Refused as refused:
        return CannotExpress(refused.reason, shown, tuple(ctx.notes))


def _keep_line_breaks(ctx: _Context, result: Result) -> Result:
    r"""``result`` with each changed file that Git stores with ``\r\n`` line breaks written
    back with them: files are read, parsed and edited as ``\n`` text, and a file whose every
    line changed would make an unreviewable diff."""
    if not isinstance(result, Changed):
        return result
    files: dict[str, str | None] = {}
    for path, text in result.files.items():
        if text is not None and "\r\n" not in text and _crlf(ctx, path):
            text = text.replace("\n", "\r\n")
        files[path] = text
    return Changed(files, result.notes)


def _crlf(ctx: _Context, path: str) -> bool:
    try:
        raw = ctx.idx.read_exact(path)
    except (OSError, UnicodeDecodeError):  # a new file, or one the engine did not read
        return False
    return "\r\n" in raw and raw.count("\r\n") == raw.count("\n")


def _is_secret(group: str, kind: str) -> bool:
    return group == "" and kind == "Secret"


def _secret_keys(wanted: locate.Wanted, ops: list[Op]) -> list[str]:
    """The Secret keys whose values the change touches (none for other kinds)."""
    if not _is_secret(wanted.group, wanted.kind):
        return []
    return sorted(
        {
            str(op.path[1]) if len(op.path) > 1 else "(all keys)"
            for op in ops
            if op.path and op.path[0] in sops.SECRET_FIELDS
        }
    )


def _never_written(
    wanted: locate.Wanted, keys: list[str], generated: generators.Generated | None = None
) -> str:
    source = (
        f", and this Secret is generated by {generated.describe()} from plaintext sources"
        if generated is not None
        else ""
    )
    return (
        f"Secret {wanted.name}: keys {', '.join(keys)} changed; Secret values are never "
        f"written to Git in the clear{source} (keep the Secret SOPS-encrypted for age "
        "recipients, sealed, or in an external secret store)"
    )


def _sops_configured(ctx: _Context) -> bool:
    return sops.covers(ctx.subpath, ctx.idx.exists)


def _update(
    ctx: _Context,
    wanted: locate.Wanted,
    live: dict[str, JSON],
    old: dict[str, JSON],
    before: dict[str, JSON],
    after: dict[str, JSON],
    shown: str,
) -> Result:
    ops = defaults.delta_ops(before, after)
    if not ops:
        return NoChange(
            "the change only touched fields the server or GitOps tools manage", tuple(ctx.notes)
        )
    secret_keys = _secret_keys(wanted, ops)
    if secret_keys and not _sops_configured(ctx):
        raise _Refused(_never_written(wanted, secret_keys, _generator_of(ctx, wanted)))
    outcome = _locate(ctx, wanted)
    if isinstance(outcome, generators.Found):
        return _update_generated(ctx, wanted, outcome, old, live, ops, secret_keys)
    if isinstance(outcome, locate.NotFound):
        if secret_keys:
            raise _Refused(_never_written(wanted, secret_keys))
        releases = helm.find_releases(
            live,
            idx=ctx.idx,
            read=ctx.read,
            subpath=ctx.subpath,
            applications=ctx.applications,
        )
        if len(releases) > 1:
            names = ", ".join(r.describe() for r in releases)
            raise _Refused(f"{wanted.describe()} may come from several Helm releases: {names}")
        if not releases:
            raise _Refused(_not_found(ctx, wanted))
        routing = helm.route(
            releases[0], ops, old=old, read=ctx.read, idx=ctx.idx, tree=ctx.tree, sub=ctx.subpath
        )
    else:
        placement = outcome.placement
        if outcome.loose and wanted.namespace:
            ctx.notes.append(
                f"{placement.doc.path} leaves the namespace out; matched by kind and name"
            )
        base = _load_doc(ctx, placement.doc)
        if sops.is_encrypted(base):
            return _update_encrypted(ctx, wanted, placement, base, ops)
        if secret_keys:
            path = placement.doc.path
            raise _Refused(
                f"Secret {wanted.name}: keys {', '.join(secret_keys)} changed, but Git holds "
                f"this Secret unencrypted at {path}; breakglass never writes a Secret value in "
                f"the clear. Encrypt the file once (`sops --encrypt --in-place {path}`) and "
                "later changes are written encrypted"
            )
        routing = kustomize.route(placement, ops, tree=ctx.tree, base=base, read=ctx.read)
        scene = _scene(ctx, wanted, live, placement.doc.path, placement.chain, base)
        routing = postbuild.review(scene, routing)
    return _finish(ctx, routing)


def _scene(
    ctx: _Context,
    wanted: locate.Wanted,
    live: Mapping[str, JSON],
    source: str,
    chain: tuple[str, ...],
    git: Mapping[str, JSON] | None = None,
) -> postbuild.Scene:
    """What ``postbuild`` needs to know of the object (``source``: the manifest or the
    generator's directory that builds it)."""
    return postbuild.Scene(
        fluxvars.Context(ctx.idx, ctx.tree, ctx.read, ctx.read_exact),
        live,
        wanted.describe(),
        source,
        git,
        chain,
        ctx.kustomizations,
        ctx.notes,
    )


def _finish(ctx: _Context, routing: kustomize.Routing) -> Result:
    ctx.notes.extend(routing.notes)
    if routing.cannot:
        raise _Refused(routing.cannot)
    files = _apply(ctx, routing.ops)
    for path, text in routing.new_files.items():
        _check_new_path(ctx, path)
        files[path] = text
    if not files:
        return NoChange("Git already has this change", tuple(ctx.notes))
    return Changed(files, tuple(ctx.notes))


def _apply(ctx: _Context, ops: Mapping[kustomize.Target, list[Op]]) -> dict[str, str | None]:
    by_file: dict[str, dict[tuple[int, edit.Path | None], list[Op]]] = {}
    for target, target_ops in ops.items():
        by_file.setdefault(target.file, {}).setdefault((target.chunk, target.inner), []).extend(
            target_ops
        )
    out: dict[str, str | None] = {}
    for path, per_chunk in sorted(by_file.items()):
        original = ctx.read(path)
        if jsonfile.is_json(path):
            text = _apply_json(ctx, path, original, per_chunk)
        else:
            chunks = [c.text for c in roundtrip.split_documents(original)]
            for (number, inner), chunk_ops in sorted(per_chunk.items(), key=lambda kv: kv[0][0]):
                if number >= len(chunks):
                    raise _Refused(f"{path}: document {number} disappeared while editing")
                chunks[number] = _edit_chunk(chunks[number], inner, chunk_ops, path)
            text = "".join(chunks)
        if text != original:
            out[path] = text
    return out


def _apply_json(
    ctx: _Context, path: str, original: str, per_chunk: dict[tuple[int, edit.Path | None], list[Op]]
) -> str:
    """A JSON file with the operations of its documents applied, in the file's own layout."""
    by_doc: dict[int, list[Op]] = {}
    for (number, inner), chunk_ops in sorted(per_chunk.items(), key=lambda kv: kv[0][0]):
        doc_ops = chunk_ops
        if inner is not None:
            embedded = _embedded_edit(jsonfile.document(original, number), inner, chunk_ops, path)
            doc_ops = [embedded] if embedded is not None else []
        by_doc.setdefault(number, []).extend(doc_ops)
    edited = jsonfile.edit_documents(original, by_doc, path=path)
    if edited.note:
        ctx.notes.append(edited.note)
    return edited.text


def _edit_chunk(text: str, inner: edit.Path | None, ops: list[Op], path: str) -> str:
    if inner is None:
        return edit.edit_text(text, ops)
    data = roundtrip.to_plain(roundtrip.parse_chunk(text))
    embedded = _embedded_edit(data, inner, ops, path)
    return text if embedded is None else edit.edit_text(text, [embedded])


def _embedded_edit(data: JSON, inner: edit.Path, ops: list[Op], path: str) -> SetOp | None:
    """The operation that writes ``ops`` into the YAML string at ``inner`` of a document
    (an inline patch, a values string); ``None`` when the string already says this."""
    found, embedded = edit.plain_get(data, inner)
    if not found or not isinstance(embedded, str):
        raise _Refused(f"{path}: {edit.format_path(inner)} is not a YAML string")
    parts = roundtrip.split_documents(embedded)
    if len(parts) != 1:
        raise _Refused(f"{path}: {edit.format_path(inner)} holds several documents")
    new_inner = edit.edit_text(embedded, ops)
    return None if new_inner == embedded else SetOp(inner, new_inner)


def _load_doc(ctx: _Context, doc: index.DocRef) -> dict[str, JSON]:
    text = ctx.read(doc.path)
    if jsonfile.is_json(doc.path):
        data = jsonfile.document(text, doc.chunk)
    else:
        chunks = roundtrip.split_documents(text)
        data = roundtrip.to_plain(roundtrip.parse_chunk(chunks[doc.chunk].text))
    return data if isinstance(data, dict) else {}


def _update_encrypted(
    ctx: _Context,
    wanted: locate.Wanted,
    placement: kustomize.Placement,
    base: dict[str, JSON],
    ops: list[Op],
) -> Result:
    """Write a change into a SOPS-encrypted manifest by encrypting the whole file again."""
    doc = placement.doc
    if not _is_secret(wanted.group, wanted.kind):
        raise _Refused(
            f"{doc.path} is SOPS-encrypted; breakglass re-encrypts Secrets only, and editing "
            "the file in place would break its MAC"
        )
    if jsonfile.is_json(doc.path):
        raise _Refused(
            f"{doc.path} is a SOPS-encrypted JSON file; breakglass rebuilds and encrypts "
            "Secrets in YAML files only"
        )
    if ctx.secrets is None:
        raise _Refused(
            f"{doc.path} is SOPS-encrypted, and encrypting it again needs the Secret's current "
            "values, which this run does not have (the worker reads them from the cluster "
            "when the read-secrets component is deployed)"
        )
    if (
        len(ctx.idx.files[doc.path].docs) != 1
        or len(roundtrip.split_documents(ctx.read(doc.path))) != 1
    ):
        raise _Refused(f"{doc.path} holds several documents; SOPS encrypts a file as a whole")
    if placement.chain and ctx.tree.is_shared(doc.path):
        raise _Refused(f"{doc.path} is a base shared by other overlays; it is not edited")
    values = sops.check_values(ctx.secrets.values)
    config = sops.config_for(doc.path, ctx.idx.exists)
    if config is None:
        raise _Refused(f"{doc.path} is SOPS-encrypted, but no .sops.yaml says whom to encrypt for")
    rule = sops.rule_for(config, ctx.read(config), doc.path)
    other_ops = [op for op in ops if not (op.path and op.path[0] in sops.SECRET_FIELDS)]
    plain = sops.secret_plaintext(
        ctx.read(doc.path), base, path=doc.path, values=values, other_ops=other_ops
    )
    text = _encrypt(ctx, doc.path, plain.text, values)
    ctx.notes.append(
        f"{doc.path} is SOPS-encrypted: encrypted it again with {rule.describe()}; every "
        "value has new ciphertext, because breakglass cannot decrypt the old one. To review, "
        f"compare `sops -d {doc.path}` on this branch and on the base branch"
    )
    if plain.dropped_comments:
        ctx.notes.append(
            f"{doc.path}: {plain.dropped_comments} encrypted comment(s) could not be kept "
            "(breakglass cannot decrypt them)"
        )
    return Changed({doc.path: text}, tuple(ctx.notes))


def _encrypt(ctx: _Context, path: str, plaintext: str, values: Mapping[str, str]) -> str:
    assert ctx.secrets is not None
    try:
        text = ctx.secrets.encrypt(path, plaintext)
    except sops.EncryptError as exc:
        raise _Refused(f"{path} could not be encrypted: {sops.scrub(str(exc), values)}") from None
    sops.check_encrypted(text, path=path)
    return text


def _ambiguous(wanted: locate.Wanted, outcome: locate.Ambiguous) -> str:
    names = "; ".join(p.describe() for p in outcome.candidates)
    return (
        f"{wanted.describe()} matches {len(outcome.candidates)} manifests and nothing tells "
        f"them apart: {names} (pass --path to choose)"
    )


def _not_found(ctx: _Context, wanted: locate.Wanted) -> str:
    where = f" under {ctx.subpath}" if ctx.subpath else ""
    what = "manifest, generator" if wanted.kind in generators.FIELDS else "manifest"
    return f"no {what} or Helm release{where} in this repository renders {wanted.describe()}"


def _find_generated(
    ctx: _Context, wanted: locate.Wanted
) -> generators.Found | generators.Ambiguous | None:
    return generators.find(
        ctx.tree,
        group=wanted.group,
        kind=wanted.kind,
        name=wanted.name,
        namespace=wanted.namespace,
        subpath=ctx.subpath,
    )


def _locate(
    ctx: _Context, wanted: locate.Wanted
) -> locate.Found | locate.NotFound | generators.Found:
    """The one manifest or generator that renders ``wanted``; refused when there are several."""
    outcome = locate.locate(wanted, idx=ctx.idx, tree=ctx.tree, subpath=ctx.subpath)
    generated = _find_generated(ctx, wanted)
    if generated is None:
        if isinstance(outcome, locate.Ambiguous):
            raise _Refused(_ambiguous(wanted, outcome))
        return outcome
    docs: tuple[kustomize.Placement, ...] = ()
    if isinstance(outcome, locate.Ambiguous):
        docs = outcome.candidates
    elif isinstance(outcome, locate.Found):
        docs = (outcome.placement,)
    if isinstance(generated, generators.Found):
        if not docs:
            return generated
        gens: tuple[generators.Generated, ...] = (generated.generated,)
    else:
        gens = generated.candidates
    names = [p.describe() for p in docs] + [g.describe() for g in gens]
    raise _Refused(
        f"{wanted.describe()} matches {len(names)} manifests or generators and nothing tells "
        f"them apart: {'; '.join(names)} (pass --path to choose)"
    )


def _generator_of(ctx: _Context, wanted: locate.Wanted) -> generators.Generated | None:
    """The generator that renders ``wanted``, if exactly one does (for messages only)."""
    found = _find_generated(ctx, wanted)
    return found.generated if isinstance(found, generators.Found) else None


# --------------------------------------------------------------------------------------------
# Generated objects


def _update_generated(
    ctx: _Context,
    wanted: locate.Wanted,
    found: generators.Found,
    old: dict[str, JSON],
    new: dict[str, JSON],
    ops: list[Op],
    secret_keys: list[str],
) -> Result:
    """Write a change to a ConfigMap or Secret that a kustomize generator renders."""
    gen = found.generated
    if secret_keys:
        raise _Refused(_never_written(wanted, secret_keys, gen))
    binary = sorted({str(op.path[1]) for op in ops if op.path[:1] == ("binaryData",)})
    if binary:
        raise _Refused(
            f"{wanted.kind} {wanted.name}: binaryData keys {', '.join(binary)} changed; they "
            f"come from files {gen.describe()} reads byte for byte, and breakglass does not "
            "write binary files"
        )
    if found.loose and wanted.namespace:
        ctx.notes.append(f"{gen.describe()} leaves the namespace out; matched by kind and name")
    scene = _scene(ctx, wanted, new, gen.creator.dir, gen.chain)
    ops, variables = postbuild.review_generated(scene, gen, ops)
    if variables.cannot:
        raise _Refused(variables.cannot)
    routing = generators.route(gen, ops, tree=ctx.tree, read=ctx.read_exact)
    if routing.cannot:
        routing.cannot = f"{wanted.describe()} is generated by {gen.describe()}: {routing.cannot}"
    elif any(op.path[:1] == ("data",) for op in ops):
        routing.notes.append(_hash_note(wanted, gen, old, new))
    for target, target_ops in variables.ops.items():
        for op in target_ops:
            routing.add(target, op)
    routing.new_files.update(variables.new_files)
    routing.notes.extend(variables.notes)
    return _finish(ctx, routing)


def _hash_note(
    wanted: locate.Wanted, gen: generators.Generated, old: dict[str, JSON], new: dict[str, JSON]
) -> str:
    if not gen.hashed:
        return (
            f"{wanted.name} is generated with disableNameSuffixHash, so its name stays and the "
            "workloads that use it do not roll out on the next sync (they see the new data "
            "only in mounted files, or after a restart)"
        )
    before = wanted.name[len(gen.name) + 1 :]
    after = ""
    if generators.configmap_hash(old.get("data"), old.get("binaryData")) == before:
        after = generators.configmap_hash(new.get("data"), new.get("binaryData"))
    next_name = f" ({gen.name}-{after})" if after else ""
    return (
        f"the content hash of {wanted.name} changes: kustomize generates the ConfigMap under a "
        f"new name{next_name}, and the workloads that refer to it roll out on the next sync"
    )


# --------------------------------------------------------------------------------------------
# Deletion


def _delete(ctx: _Context, wanted: locate.Wanted, shown: str) -> Result:
    outcome = _locate(ctx, wanted)
    if isinstance(outcome, generators.Found):
        gen = outcome.generated
        raise _Refused(
            f"{wanted.describe()} is generated by {gen.describe()}; kustomize generates it "
            "again on every build, so the generator entry is what would have to go, and "
            "breakglass does not remove generators (if this was an earlier generation of a "
            "hashed name, Git needs no change)"
        )
    if isinstance(outcome, locate.NotFound):
        return NoChange(f"Git has no manifest for {wanted.describe()}", tuple(ctx.notes))
    placement = outcome.placement
    doc = placement.doc
    if placement.chain and ctx.tree.is_shared(doc.path):
        routing = kustomize.Routing()
        root = placement.chain[0]
        if ctx.tree.is_shared(root):
            raise _Refused(f"{doc.path} and the overlay {root} are both shared by other overlays")
        stages = ctx.tree.names_at(placement)
        style = kustomize._style_of(ctx.read, ctx.tree.kustomizations[root].path)
        kustomize._new_overlay_patch(
            placement, stages, [SetOp(("$patch",), "delete")], ctx.tree, [], routing, style
        )
        routing.notes[-1] = (
            f"{doc.path} is shared with other overlays; deleted the object in {root} "
            "with a `$patch: delete` strategic-merge patch"
        )
        return _finish(ctx, routing)
    text = ctx.read(doc.path)
    others = [d for d in ctx.idx.files[doc.path].docs if d.chunk != doc.chunk]
    files: dict[str, str | None] = {}
    if others and jsonfile.is_json(doc.path):
        edited = jsonfile.remove_document(text, doc.chunk, path=doc.path)
        files[doc.path] = edited.text
        if edited.note:
            ctx.notes.append(edited.note)
        ctx.notes.append(f"removed the list item at {doc.path}:{doc.line}")
    elif others:
        chunks = [c.text for c in roundtrip.split_documents(text)]
        chunks[doc.chunk] = ""  # its own text, including the separator line that opened it
        files[doc.path] = "".join(chunks)
        ctx.notes.append(f"removed the document at {doc.path}:{doc.line}")
    else:
        files[doc.path] = None
        ctx.notes.append(f"deleted {doc.path}")
        routing = kustomize.Routing()
        for directory, kust in ctx.tree.kustomizations.items():
            entries = kust.data.get("resources")
            if not isinstance(entries, list):
                continue
            gone = [
                position
                for position, entry in enumerate(entries)
                if posixpath.normpath(posixpath.join(directory, str(entry))) == doc.path
            ]
            if gone and len(gone) == len(entries) and set(kust.data) <= {"resources"}:
                # the kustomization lists nothing else: an empty file is not a kustomization,
                # so it keeps an explicit empty list
                routing.add(kustomize.Target(kust.path, 0), SetOp(("resources",), []))
                continue
            for position in reversed(gone):
                routing.add(kustomize.Target(kust.path, 0), RemoveOp(("resources", position)))
        files.update(_apply(ctx, routing.ops))
    return Changed(files, tuple(ctx.notes))


# --------------------------------------------------------------------------------------------
# Creation


def _create(ctx: _Context, wanted: locate.Wanted, obj: dict[str, JSON], shown: str) -> Result:
    secret = _is_secret(wanted.group, wanted.kind)
    keys = sorted({k for f in sops.SECRET_FIELDS for k in (obj.get(f) or {})}) if secret else []
    if keys and not _sops_configured(ctx):
        raise _Refused(
            f"Secret {wanted.name} was created with keys {', '.join(keys)}; Secret values are "
            "never written to Git in the clear (no .sops.yaml says whom to encrypt them for)"
        )
    outcome = _locate(ctx, wanted)
    if isinstance(outcome, generators.Found):
        raise _Refused(
            f"{wanted.describe()} is already generated by {outcome.generated.describe()}; "
            "pass --old to describe the change"
        )
    if isinstance(outcome, locate.Found):
        existing = _load_doc(ctx, outcome.placement.doc)
        mine = copy.deepcopy(obj)
        mine.get("metadata", {}).pop("namespace", None)
        existing.get("metadata", {}).pop("namespace", None)
        if delta.is_empty_delta(*delta.sparse_delta(existing, mine)):
            return NoChange("Git already has this object", tuple(ctx.notes))
        raise _Refused(
            f"{wanted.describe()} already exists in Git at {outcome.placement.describe()}; "
            "pass --old to describe the change"
        )
    if wanted.namespace is None:
        raise _Refused(f"{wanted.describe()} is cluster-scoped; no place in the repo owns it")
    siblings = _siblings(ctx, wanted.namespace)
    if not siblings:
        raise _Refused(
            f"namespace {wanted.namespace} is not managed by this repository"
            + (f" under {ctx.subpath}" if ctx.subpath else "")
        )
    directory = _choose_directory(ctx, siblings)
    filename = _file_name(ctx, directory, wanted, [p.doc for p in siblings])
    path = posixpath.join(directory, filename) if directory else filename
    _check_new_path(ctx, path)
    # apiVersion, kind, metadata first, as manifests are written (kubectl sends a built-in
    # kind's fields in Go struct order, kind first; a custom resource's in alphabetical order)
    content: dict[str, JSON] = {
        **{k: copy.deepcopy(obj[k]) for k in _HEAD_KEYS if k in obj},
        **{k: copy.deepcopy(v) for k, v in obj.items() if k not in _HEAD_KEYS},
    }
    meta = content.setdefault("metadata", {})
    if sum(1 for p in siblings if p.doc.namespace) * 2 < len(siblings):
        meta.pop("namespace", None)
    if jsonfile.is_json(path):
        if keys:
            raise _Refused(
                f"Secret {wanted.name} would be written to {path}, next to JSON siblings, and "
                "breakglass writes SOPS-encrypted Secrets as YAML files only"
            )
        text = jsonfile.render_new(content, _sibling_layout(ctx, siblings))
    elif keys:
        text = _new_encrypted_secret(ctx, path, content, _sibling_style(ctx, siblings))
    else:
        text = roundtrip.render_document(content, _sibling_style(ctx, siblings))
    files: dict[str, str | None] = {path: text}
    kust = ctx.tree.kustomizations.get(directory)
    if kust is not None:
        if isinstance(kust.data.get("resources"), list):
            op: Op = AddItemOp(("resources",), filename)
        else:
            op = SetOp(("resources",), [filename])
        files.update(_apply(ctx, {kustomize.Target(kust.path, 0): [op]}))
        ctx.notes.append(f"added {filename} to {kust.path}")
    ctx.notes.append(f"created {path}")
    return Changed(files, tuple(ctx.notes))


def _new_encrypted_secret(
    ctx: _Context, path: str, content: dict[str, JSON], style: roundtrip.Style
) -> str:
    """A created Secret's new file, SOPS-encrypted for the rule that covers ``path``."""
    name = str(content.get("metadata", {}).get("name"))
    if ctx.secrets is None:
        raise _Refused(
            f"Secret {name} was created by hand; writing it encrypted needs its values, which "
            "this run does not have (the worker reads them from the cluster when the "
            "read-secrets component is deployed)"
        )
    config = sops.config_for(path, ctx.idx.exists)
    if config is None:
        raise _Refused(f"no .sops.yaml covers {path}, so Secret {name} cannot be written encrypted")
    rule = sops.rule_for(config, ctx.read(config), path)
    values = sops.check_values(ctx.secrets.values)
    plaintext = sops.new_secret_plaintext(content, values=values, style=style)
    text = _encrypt(ctx, path, plaintext, values)
    ctx.notes.append(f"{path} is written SOPS-encrypted with {rule.describe()}")
    return text


def _siblings(ctx: _Context, namespace: str) -> list[kustomize.Placement]:
    found: list[kustomize.Placement] = []
    for doc in ctx.idx.all_docs():
        if not index.under(doc.path, ctx.subpath) and not ctx.tree.included_by.get(doc.path):
            continue
        if doc.kind == "Namespace" and doc.name == namespace and not doc.namespace:
            found.append(kustomize.Placement(doc, (), doc.name, namespace))
            continue
        for placement in ctx.tree.place(doc, ctx.subpath):
            if (placement.namespace or ctx.namespace or None) == namespace:
                found.append(placement)
    return found


def _choose_directory(ctx: _Context, siblings: list[kustomize.Placement]) -> str:
    votes: Counter[str] = Counter()
    for placement in siblings:
        doc_dir = posixpath.dirname(placement.doc.path)
        if placement.chain and ctx.tree.is_shared(placement.doc.path):
            votes[placement.chain[0]] += 1
        else:
            votes[doc_dir] += 1
    best = max(votes.values())
    return sorted(d for d, n in votes.items() if n == best)[0]


_PATTERNS: Final = (
    "{name}-{kind}",
    "{kind}-{name}",
    "{name}.{kind}",
    "{name}_{kind}",
    "{kind}_{name}",
    "{name}",
    "{kind}",
)


def _kind_forms(kind: str) -> tuple[str, ...]:
    return (kind.lower(), *_SHORT_KINDS.get(kind, ()))


def _file_name(
    ctx: _Context, directory: str, wanted: locate.Wanted, docs: list[index.DocRef]
) -> str:
    votes: Counter[tuple[str, int]] = Counter()
    suffixes: Counter[str] = Counter()
    for doc in docs:
        entry = ctx.idx.files.get(doc.path)
        if entry is None or len(entry.docs) != 1:
            continue
        stem, suffix = posixpath.splitext(posixpath.basename(doc.path))
        suffixes[suffix] += 1
        for pattern in _PATTERNS:
            for form_index, form in enumerate(_kind_forms(doc.kind)):
                if pattern.format(name=doc.name, kind=form) == stem:
                    votes[(pattern, form_index)] += 1
    suffix = suffixes.most_common(1)[0][0] if suffixes else ".yaml"
    order = [v for v, _ in votes.most_common()] + [("{name}-{kind}", 0)]
    forms = _kind_forms(wanted.kind)
    for pattern, form_index in order:
        form = forms[min(form_index, len(forms) - 1)]
        candidate = pattern.format(name=wanted.name, kind=form) + suffix
        full = posixpath.join(directory, candidate) if directory else candidate
        if not ctx.idx.exists(full):
            return candidate
    raise _Refused(f"every file name for {wanted.describe()} in {directory or '.'} is taken")


def _sibling_style(ctx: _Context, siblings: list[kustomize.Placement]) -> roundtrip.Style:
    for placement in siblings:
        if jsonfile.is_json(placement.doc.path):
            continue
        try:
            chunks = roundtrip.split_documents(ctx.read(placement.doc.path))
            return roundtrip.detect_style(roundtrip.parse_chunk(chunks[placement.doc.chunk].text))
        except (OSError, roundtrip.YamlError, IndexError):
            continue
    return roundtrip.Style()


def _sibling_layout(ctx: _Context, siblings: list[kustomize.Placement]) -> jsonfile.Layout:
    """The layout of the first JSON sibling, for a new JSON file next to it."""
    for placement in siblings:
        if jsonfile.is_json(placement.doc.path):
            try:
                return jsonfile.detect_layout(ctx.read(placement.doc.path))
            except OSError:
                continue
    return jsonfile.Layout()


def _check_new_path(ctx: _Context, path: str) -> None:
    normal = posixpath.normpath(path)
    if normal.startswith("../") or posixpath.isabs(normal) or normal != path:
        raise _Refused(f"refusing to write {path!r}: it is not a plain path inside the repository")
    try:
        ctx.idx.resolve(path)
    except PermissionError as exc:
        raise _Refused(f"refusing to write {path!r}: {exc}") from None


# --------------------------------------------------------------------------------------------
# Showing the delta


def _redacted_reason(paths: list[str]) -> str:
    fields = ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")
    return (
        f"{fields}: the new value looks secret (its name matches a redaction pattern), so "
        "breakglass recorded only a marker for it and never copies it into Git or a pull "
        "request, so nothing of this change is written; set the value in Git by hand with "
        "the rest of the change, or better, move it into a Secret and refer to it "
        "(valueFrom.secretKeyRef)"
    )


def _redact(
    kind: str, group: str, before: dict[str, JSON], after: dict[str, JSON]
) -> tuple[dict[str, JSON], dict[str, JSON]]:
    """Both sides with Secret values replaced by what a reviewer may know: that a key was
    ``<redacted: changed>``, ``added`` or ``removed``, never its value."""
    old, new = copy.deepcopy(before), copy.deepcopy(after)
    if not _is_secret(group, kind):
        return old, new
    for fieldname in sops.SECRET_FIELDS:
        was, now = old.get(fieldname), new.get(fieldname)
        was = was if isinstance(was, dict) else {}
        now = now if isinstance(now, dict) else {}
        if fieldname in old:
            old[fieldname] = dict.fromkeys(was, "<redacted>")
        if fieldname in new:
            new[fieldname] = {
                key: (
                    "<redacted: removed>"
                    if value is None
                    else "<redacted: changed>"
                    if key in was
                    else "<redacted: added>"
                )
                for key, value in now.items()
            }
        for key in was:
            if key not in now:
                new.setdefault(fieldname, {})[key] = "<redacted: removed>"
    return old, new


def _show_delta(kind: str, group: str, before: dict[str, JSON], after: dict[str, JSON]) -> str:
    """The delta as a reviewer reads it: Secret values replaced by whether each key was
    changed, added or removed."""
    paths = delta.changed_paths(before, after)
    lines = ["changed: " + (", ".join(paths) if paths else "(nothing)")]
    shown_before, shown_after = _redact(kind, group, before, after)
    for label, side in (("before", shown_before), ("after", shown_after)):
        lines.append(f"{label}:")
        body = roundtrip.render_document(side, roundtrip.Style())
        lines.extend("  " + line for line in body.rstrip("\n").split("\n"))
    return "\n".join(lines)
