"""Structure the issue-15 renovation keeps: domain modules are plain Python (no gRPC, directly or
through the kit), every domain error names a status the edge maps, no migration copies the kit's
tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for p in ROOT.glob("services/*/domain/*.py")
    if p.name != "__init__.py"
)


def test_every_service_has_domain_modules_to_check() -> None:
    assert {m.split(".")[1] for m in DOMAIN_MODULES} >= {"members", "wallet", "booking"}


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_a_domain_module_does_not_import_grpc(module: str) -> None:
    # A fresh interpreter: this test session has imported grpc long ago.
    probe = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.startswith('grpc.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT, timeout=60
    )
    assert out.stdout.strip() == "[]", f"{module} pulls in gRPC: {out.stdout.strip()}"


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_domain_error_names_a_status_the_edge_can_map() -> None:
    import importlib
    import pkgutil

    import grpc

    import kit
    import services
    from kit.errors import DomainError

    for package in (kit, services):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".migrations" not in info.name and not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    errors = _subclasses(DomainError) | {DomainError}
    assert len(errors) > 10
    for cls in errors:
        # A plain status name (not a grpc.StatusCode) that grpc knows.
        assert isinstance(cls.code, str), f"{cls.__module__}.{cls.__qualname__}.code = {cls.code!r}"
        assert cls.code in grpc.StatusCode.__members__, f"{cls.__qualname__}.code = {cls.code!r}"


def test_no_migration_copies_the_kits_tables() -> None:
    import re

    copy = re.compile(r'create_table\(\s*"(outbox|inbox|idempotency_keys)"')
    copies = {
        str(p.relative_to(ROOT))
        for p in ROOT.glob("services/*/migrations/versions/*.py")
        if copy.search(p.read_text())
    }
    # They call kit.messaging.schema.create_kit_tables() instead (the same DDL).
    assert copies == set()
