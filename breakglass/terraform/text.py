"""What a Terraform backfill pull request and a "needs a human" issue say.

Written for the reviewer: which resource, which attribute, the value the code had and the
value the world has now (sensitive values never appear: they are refused before this), where
in the repository the edit is, who made the change when breakglass knows (a Kubernetes object
it captured), and how to revert the real resource instead of merging.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from breakglass.terraform import mapping
from breakglass.terraform.drift import ABSENT, path_text

if TYPE_CHECKING:
    from breakglass.settings import TerraformRootSettings


class Outcome(Protocol):
    """What a scan decided for one resource (``terraform.scan.Outcome``)."""

    decision: mapping.Decision
    reason: str
    author: str | None


_UNKNOWN = "author unknown"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    """``text`` as Markdown inline code, whatever backticks it holds (a longer fence)."""
    text = _cell(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _value(value: object) -> str:
    return "(not set)" if value is ABSENT else code(mapping.shown(value))


def _who(author: str | None) -> str:
    return f"made by **{author}** (captured by breakglass)" if author else _UNKNOWN


def pr_text(
    *,
    root: TerraformRootSettings,
    binary: str,
    ready: Sequence[mapping.Decision],
    authors: Mapping[str, str | None],
    needs_human: Sequence[Outcome],
) -> tuple[str, str]:
    """Title and body of the pull request that backfills ``ready`` into ``root``."""
    leaves = sum(len(m.changes) for d in ready for m in d.mapped)
    resources = len(ready)
    title = (
        f"breakglass: backfill OpenTofu/Terraform drift in {root.name} "
        f"({leaves} attribute{'s' * (leaves != 1)} of {resources} "
        f"resource{'s' * (resources != 1)})"
    )
    people = sorted({a for a in authors.values() if a})
    found = (
        f"Found by `{binary} plan -refresh-only`; "
        + (
            f"made by {', '.join(f'**{p}**' for p in people)} (captured by breakglass)"
            if people
            else _UNKNOWN
        )
        + "."
    )
    where = root.path or "."
    lines = [
        f"## OpenTofu/Terraform drift in `{root.name}`",
        "",
        found,
        "",
        "Someone changed these resources outside OpenTofu/Terraform. This pull request changes "
        f"the code in `{where}` (workspace `{root.workspace}`) to say what they are now; "
        f"`{binary} plan` on this branch shows no change for them.",
        "",
        "| Resource | Attribute | Code said | Now | Written in | By |",
        "|---|---|---|---|---|---|",
    ]
    for decision in ready:
        address = decision.drift.address
        for mapped in decision.mapped:
            target = mapped.target
            for change in mapped.changes:
                lines.append(
                    f"| {code(address)} | {code(path_text(change.path))} "
                    f"| {_value(change.before)} | {_value(change.after)} "
                    f"| `{target.file}:{target.line}` ({_cell(target.what)}) "
                    f"| {_cell(authors.get(address) or 'unknown')} |"
                )
    lines += [
        "",
        "**To revert the real resources instead:** close this pull request without merging, "
        f"then run `{binary} apply` in `{where}`: it puts back what the code on "
        f"`{root.branch}` says.",
        "",
        f"**After merging:** run `{binary} apply` (or `apply -refresh-only`) so the state "
        "records the new values; until then each scan finds this drift again and says it is "
        "already in the code.",
    ]
    if needs_human:
        lines += ["", "### Not in this pull request (needs a human)", ""]
        for outcome in needs_human:
            lines.append(
                f"- `{outcome.decision.drift.address}`: {_cell(outcome.reason or 'see the issue')}"
            )
    lines += ["", f"<sub>breakglass · root `{root.name}` · found by plan -refresh-only</sub>"]
    return title, "\n".join(lines) + "\n"


def issue_text(*, root: TerraformRootSettings, binary: str, outcome: Outcome) -> tuple[str, str]:
    """Title and body of the issue for drift breakglass cannot write into the code."""
    decision = outcome.decision
    address = decision.drift.address
    title = f"breakglass: OpenTofu/Terraform drift in {root.name} needs a human: {address}"
    where = root.path or "."
    lines = [
        f"## `{address}` drifted and the code cannot be changed to match automatically",
        "",
        f"Found by `{binary} plan -refresh-only` in `{where}` (root `{root.name}`, workspace "
        f"`{root.workspace}`); {_who(outcome.author)}.",
        "",
        "| Attribute | Code/state said | Now | Why breakglass did not edit it |",
        "|---|---|---|---|",
    ]
    refused = {r.attribute: r for r in decision.refused}
    for refusal in decision.refused:
        if not refusal.changes:
            lines.append(f"| {_cell(refusal.attribute)} | | | {_cell(refusal.reason)} |")
        for change in refusal.changes:
            shown_before = "(sensitive)" if change.sensitive else _value(change.before)
            shown_after = "(sensitive)" if change.sensitive else _value(change.after)
            lines.append(
                f"| {code(path_text(change.path))} | {shown_before} | {shown_after} "
                f"| {_cell(refusal.reason)} |"
            )
    for mapped in decision.mapped:
        if mapped.attribute in refused:
            continue
        for change in mapped.changes:
            held = _cell(outcome.reason or "the resource has other drift")
            lines.append(
                f"| {code(path_text(change.path))} | {_value(change.before)} "
                f"| {_value(change.after)} | mappable to `{mapped.target.file}:"
                f"{mapped.target.line}`, but held back: {held} |"
            )
    lines += [
        "",
        "Either change the code so it says what the resource is now (then `plan` shows no "
        f"change), or run `{binary} apply` in `{where}` to put the resource back as the code "
        "says. breakglass closes this issue when a scan no longer finds the drift (or finds it "
        "changed, in a new issue).",
        "",
        f"<sub>breakglass · root `{root.name}` · found by plan -refresh-only</sub>",
    ]
    return title, "\n".join(lines) + "\n"
