"""``PEONY_NOTIFY_PROVIDERS_FILE``: parsing, secret references, validation and routing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kit.config import ConfigError, load_config
from services.notify.adapters.providers import UnknownProvider, load_registry
from services.notify.adapters.providers.config import (
    dev_document,
    ensure_dev_service_account,
    providers_config,
    read_config_file,
)

DOC_YAML = """
providers:
  ali:
    type: aliyun_sms
    access_key_id: LTAIx
    access_key_secret: env:TEST_ALI_SECRET
    sign_name: 佩妮
    receipt_token: file:ali.token
    price_per_segment_minor: 5
  tx:
    type: tencent_sms
    secret_id: AKIDx
    secret_key: tx-secret
    sms_sdk_app_id: "1400000001"
    sign_name: 佩妮
    receipt_token: t
    price_per_segment_minor: 4
  mail:
    type: smtp
    host: smtp.example.com
    sender: notify@example.com
routing:
  default: {sms: [ali, tx], email: [mail]}
  tenants:
    acme: {sms: [tx]}
"""


@pytest.fixture
def yaml_file(tmp_path: Path) -> Path:
    (tmp_path / "ali.token").write_text("receipt-token\n")
    path = tmp_path / "providers.yaml"
    path.write_text(DOC_YAML)
    return path


async def test_routing_per_tenant_with_default_fallback(yaml_file: Path):
    registry = load_registry(yaml_file, {"TEST_ALI_SECRET": "s3cret"})
    try:
        assert [p.name for p in registry.for_channel("other", "sms")] == ["ali", "tx"]
        assert [p.name for p in registry.for_channel("acme", "sms")] == ["tx"]
        # acme names only sms: its e-mail follows the default
        assert [p.name for p in registry.for_channel("acme", "email")] == ["mail"]
        assert registry.for_channel("acme", "push") == []
        assert registry.price_per_unit_minor("ali") == 5
        assert registry.price_per_unit_minor("mail") == 0
        assert registry.by_name("tx").channel == "sms"
        with pytest.raises(UnknownProvider):
            registry.by_name("nope")
    finally:
        await registry.aclose()


def test_secret_references_are_resolved(yaml_file: Path):
    cfg = read_config_file(yaml_file, {"TEST_ALI_SECRET": "s3cret"})
    assert cfg.providers["ali"]["access_key_secret"] == "s3cret"
    assert cfg.providers["ali"]["receipt_token"] == "receipt-token"  # file: relative to the config file


def test_every_problem_is_reported_at_once(yaml_file: Path):
    with pytest.raises(ConfigError) as err:
        read_config_file(yaml_file, {})  # TEST_ALI_SECRET unset
    assert any("TEST_ALI_SECRET is not set" in p for p in err.value.problems)

    doc = {
        "providers": {
            "a": {"type": "aliyun_sms", "endpoint": "ftp://x", "access_key_id": "k", "bogus": 1},
            "m": {"type": "smtp", "host": "h", "sender": "s", "port": "25"},
            "z": {"type": "carrier_pigeon"},
        },
        "routing": {"default": {"sms": ["a", "missing"], "email": ["a"], "fax": ["m"]}},
        "extra": True,
    }
    with pytest.raises(ConfigError) as err:
        load_registry(doc, {})
    text = "\n".join(err.value.problems)
    for expected in (
        "providers.a.endpoint: must be an http(s) URL",
        "providers.a.bogus: unknown setting",
        "providers.a.access_key_secret: required",
        "providers.m.port: must be a non-negative integer",
        "providers.z.type: must be one of",
        "routing.default.sms: unknown provider 'missing'",
        "routing.default.email: 'a' is a sms provider",
        "routing.default.fax: unknown channel",
        "extra: unknown top-level key",
    ):
        assert expected in text, expected


def test_json_files_and_syntax_errors(tmp_path: Path):
    good = tmp_path / "p.json"
    good.write_text(json.dumps(dev_document(fcm_account=ensure_dev_service_account(tmp_path / "sa.json"))))
    cfg = read_config_file(good, {})
    assert cfg.providers["fcm"]["project_id"] == "peony-dev"  # taken from the service account
    assert cfg.default_routes["sms"] == ["aliyun_sms", "tencent_sms"]
    bad = tmp_path / "p.yaml"
    bad.write_text("providers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_config_file(bad, {})
    with pytest.raises(ConfigError, match="cannot read"):
        read_config_file(tmp_path / "absent.json", {})


def test_production_requires_a_file():
    dev = load_config("notify", {"PEONY_DATABASE_URL": "postgresql://peony@127.0.0.1:5432/"})
    config = dataclasses.replace(dev, env="prod")
    with pytest.raises(ConfigError, match="required in production"):
        providers_config(config, {})
