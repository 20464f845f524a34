"""``peony up`` runs the local provider servers only when notify has no real providers configured."""

from pathlib import Path

import pytest

from cli.up import dev_providers_child


def test_dev_providers_child_follows_the_dev_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PEONY_NOTIFY_PROVIDERS_FILE", raising=False)
    monkeypatch.setenv("PEONY_DEV_PROVIDERS_URL", "http://127.0.0.1:18199")
    child = dev_providers_child(Path("/tmp/var"), "127.0.0.1:8080")
    assert child is not None
    assert child.addr == "127.0.0.1:18199" and child.kind != "service"
    assert child.cmd[-3:] == [
        "dev-providers",
        "--receipt-url",
        "http://127.0.0.1:8080/v1/notify/receipts/{provider}",
    ]


def test_no_dev_providers_when_real_ones_are_configured(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PEONY_NOTIFY_PROVIDERS_FILE", "/etc/peony/providers.yaml")
    assert dev_providers_child(Path("/tmp/var"), "127.0.0.1:8080") is None
