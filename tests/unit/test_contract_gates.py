"""The CI contract gate: `buf breaking` against the committed baseline passes today and fails on a
breaking change (what `make lint` runs; the baseline is refreshed by `make proto-baseline`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "tools" / "buf-baseline.binpb"
BUF = Path(sys.executable).parent / "buf"


def _breaking(workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", "--against", str(BASELINE)],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    if not BUF.exists():
        pytest.fail(f"buf is not installed next to {sys.executable} (dev extras: buf-bin)")
    shutil.copy(REPO / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(REPO / "protos", tmp_path / "protos")
    return tmp_path


def test_the_contract_is_compatible_with_the_baseline(workspace: Path) -> None:
    result = _breaking(workspace)
    assert result.returncode == 0, result.stdout + result.stderr


def test_removing_a_field_is_caught(workspace: Path) -> None:
    proto = workspace / "protos" / "peony" / "wallet" / "v1" / "wallet_service.proto"
    text = proto.read_text()
    # Drop the first `string request_id = N;` field of the file: a wire-breaking change.
    changed, count = re.subn(r"\n\s*string request_id = \d+[^;]*;", "\n", text, count=1)
    assert count == 1
    proto.write_text(changed)
    result = _breaking(workspace)
    assert result.returncode != 0
    assert "request_id" in result.stdout + result.stderr


def test_renumbering_an_enum_value_is_caught(workspace: Path) -> None:
    proto = next(
        p
        for p in (workspace / "protos" / "peony").rglob("*.proto")
        if re.search(r"_UNSPECIFIED = 0;", p.read_text())
    )
    text = proto.read_text()
    match = re.search(r"\n(\s*)([A-Z0-9_]+) = 1;", text)
    assert match is not None
    proto.write_text(text.replace(match.group(0), f"\n{match.group(1)}{match.group(2)} = 99;", 1))
    assert _breaking(workspace).returncode != 0
