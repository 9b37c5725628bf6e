"""The embedded forge: records are never skipped silently and numbers never reused."""

from __future__ import annotations

import asyncio
import json

import pytest

from breakglass.errors import PermanentError
from breakglass.forge import PullRequestSpec
from breakglass.forge.local import LocalProvider
from tests.forge.protocol import assert_implements_provider


def spec(branch: str = "breakglass/prod/payments/deployment/checkout") -> PullRequestSpec:
    return PullRequestSpec(branch=branch, base="main", title="t", body="b")


def test_is_a_provider(tmp_path) -> None:
    assert_implements_provider(LocalProvider(tmp_path, remote="/git/gitops.git"))


async def test_an_unreadable_record_stops_with_its_name(tmp_path) -> None:
    forge = LocalProvider(tmp_path, remote="/git/gitops.git")
    await forge.open(spec())
    (tmp_path / "000002.json").write_text('{"number": 2, "branch": "x", ')  # cut short
    with pytest.raises(PermanentError) as info:
        await forge.find_by_branch("x")
    assert "000002.json cannot be read" in str(info.value)
    assert info.value.hint and "move it out" in info.value.hint
    with pytest.raises(PermanentError):
        await forge.open(spec("breakglass/prod/payments/configmap/flags"))


async def test_two_processes_never_share_a_number(tmp_path) -> None:
    """Two providers over one directory (a webhook replica and the worker) open at once."""
    first = LocalProvider(tmp_path, remote="/git/gitops.git")
    second = LocalProvider(tmp_path, remote="/git/gitops.git")
    opened = await asyncio.gather(
        *(
            (first if n % 2 else second).open(spec(f"breakglass/prod/ns/deployment/d{n}"))
            for n in range(12)
        )
    )
    numbers = [pr.number for pr in opened]
    assert sorted(numbers) == list(range(1, 13))
    records = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]
    assert [r["number"] for r in records] == list(range(1, 13))
    assert len({r["branch"] for r in records}) == 12
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
