"""Client channels that spread load (kit/grpc_client.py), the servers' connection age and the
settings behind both (kit/config.py), and how `peony up --replicas` names and addresses replicas.
The behaviour itself (calls landing on both replicas, rolling restarts) is tested end to end in
tests/e2e/test_load_spreading.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from cli.up import UpError, replica_count, replica_env, service_target
from kit.config import ConfigError, load_config
from kit.grpc_client import ClientChannelSettings, client_channel_options, client_target


@pytest.mark.parametrize(
    ("addr", "target"),
    [
        ("wallet:50052", "dns:///wallet:50052"),  # a headless Service: every ready pod
        ("127.0.0.1:50052", "dns:///127.0.0.1:50052"),
        ("127.0.0.1:1, 127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
        ("ipv4:127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
        ("dns:///wallet.peony.svc:50052", "dns:///wallet.peony.svc:50052"),
        ("unix:/run/wallet.sock", "unix:/run/wallet.sock"),
    ],
)
def test_client_target_resolves_every_replica(addr: str, target: str) -> None:
    assert client_target(addr) == target


def test_channel_options_balance_health_check_and_keep_alive() -> None:
    options = dict(client_channel_options())
    config = json.loads(options["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": ""}
    assert "methodConfig" not in config  # no retry policy unless asked: those clients retry themselves
    assert "grpc.enable_retries" not in options  # transparent retries stay on (gRPC's default)
    assert options["grpc.service_config_disable_resolution"] == 1
    assert options["grpc.keepalive_time_ms"] == 20_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    assert options["grpc.max_reconnect_backoff_ms"] == 1_000
    assert options["grpc.initial_reconnect_backoff_ms"] == 100


def test_the_gateways_channels_add_the_retry_policy() -> None:
    settings = ClientChannelSettings(lb_policy="pick_first", health_check=False)
    options = dict(client_channel_options(settings, retries={}, max_message_bytes=1024))
    config = json.loads(options["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"pick_first": {}}]
    assert "healthCheckConfig" not in config
    (method,) = config["methodConfig"]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert options["grpc.enable_retries"] == 1
    assert options["grpc.max_send_message_length"] == options["grpc.max_receive_message_length"] == 1024


def test_balancing_settings_come_from_the_environment() -> None:
    config = load_config(
        "wallet",
        {
            "PEONY_DATABASE_URL": "postgresql://x@localhost/",
            "PEONY_GRPC_LB_POLICY": "pick_first",
            "PEONY_GRPC_CLIENT_HEALTH_CHECK": "off",
            "PEONY_GRPC_KEEPALIVE_TIME_MS": "30000",
            "PEONY_GRPC_MAX_CONNECTION_AGE_MS": "60000",
            "PEONY_GRPC_MAX_CONNECTION_AGE_GRACE_MS": "5000",
        },
    )
    assert config.grpc_channel == ClientChannelSettings(
        lb_policy="pick_first", health_check=False, keepalive_time_ms=30_000
    )
    assert (config.grpc_max_connection_age_ms, config.grpc_max_connection_age_grace_ms) == (60_000, 5_000)
    defaults = load_config("wallet", {"PEONY_DATABASE_URL": "postgresql://x@localhost/"})
    assert defaults.grpc_channel == ClientChannelSettings()
    assert defaults.grpc_max_connection_age_ms == 300_000


def test_bad_balancing_settings_stop_the_process_with_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            "wallet",
            {
                "PEONY_DATABASE_URL": "postgresql://x@localhost/",
                "PEONY_GRPC_LB_POLICY": "random",
                "PEONY_GRPC_CLIENT_HEALTH_CHECK": "maybe",
                "PEONY_GRPC_KEEPALIVE_TIME_MS": "ten",
                "PEONY_GRPC_MAX_RECONNECT_BACKOFF_MS": "0",
                "PEONY_GRPC_MAX_CONNECTION_AGE_MS": "5",
                "PEONY_GRPC_MIN_PING_INTERVAL_MS": "60000",  # above the clients' 20 s keepalive
            },
        )
    text = str(info.value)
    for name in (
        "PEONY_GRPC_LB_POLICY",
        "PEONY_GRPC_CLIENT_HEALTH_CHECK",
        "PEONY_GRPC_KEEPALIVE_TIME_MS",
        "PEONY_GRPC_MAX_RECONNECT_BACKOFF_MS",
        "PEONY_GRPC_MAX_CONNECTION_AGE_MS",
        "PEONY_GRPC_MIN_PING_INTERVAL_MS",
    ):
        assert name in text, name


def test_peony_up_replicas_are_addressed_together_and_named_apart(monkeypatch) -> None:
    assert service_target([50052]) == "127.0.0.1:50052"
    assert service_target([50052, 41000]) == "ipv4:127.0.0.1:50052,127.0.0.1:41000"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=spa")
    assert replica_env("wallet", "wallet-2", 41000) == {
        "PEONY_WALLET_GRPC_PORT": "41000",
        "OTEL_RESOURCE_ATTRIBUTES": "team=spa,service.instance.id=wallet-2",
    }


def test_peony_up_replica_count(monkeypatch) -> None:
    monkeypatch.delenv("PEONY_UP_REPLICAS", raising=False)
    assert replica_count(SimpleNamespace()) == 1
    monkeypatch.setenv("PEONY_UP_REPLICAS", "3")
    assert replica_count(SimpleNamespace(replicas=None)) == 3
    assert replica_count(SimpleNamespace(replicas=2)) == 2  # the flag wins
    for bad in ("0", "9", "two"):
        monkeypatch.setenv("PEONY_UP_REPLICAS", bad)
        with pytest.raises(UpError):
            replica_count(SimpleNamespace())
