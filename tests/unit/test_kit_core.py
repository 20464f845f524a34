"""Kit building blocks that need no I/O: config, auth, crypto, pagination, errors, ids."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from google.rpc import error_details_pb2

from kit.auth import TokenVerifier, mint_dev_token
from kit.config import DEV_JWT_SECRET, AuthConfig, ConfigError, load_config, service_database_url
from kit.crypto import DecryptionError, PiiCipher
from kit.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from kit.ids import is_request_id, parse_name, uuid7
from kit.pagination import PageTokens, page_size

AUTH = AuthConfig(
    issuer="peony", audience="peony", algorithms=("HS256",), hs256_secret=DEV_JWT_SECRET, jwks_url=None
)


# --- config ----------------------------------------------------------------------------------
def test_config_derives_one_database_per_service():
    cfg = load_config("members", {"PEONY_DATABASE_URL": "postgresql://peony@db:5432/postgres"})
    assert cfg.database_url == "postgresql+asyncpg://peony@db:5432/peony_members"
    assert cfg.grpc_port == 50051 and cfg.service_addrs["notify"] == "127.0.0.1:50054"
    assert service_database_url("postgres://u@h/x?sslmode=require", "notify").endswith(
        "/peony_notify?sslmode=require"
    )


def test_config_lists_every_problem_and_refuses_dev_secrets_in_prod():
    with pytest.raises(ConfigError) as err:
        load_config("members", {"PEONY_ENV": "prod", "PEONY_GRPC_PORT": "x", "PEONY_PII_KEY": "@@"})
    text = str(err.value)
    for needle in (
        "PEONY_DATABASE_URL",
        "PEONY_NATS_URL",
        "PEONY_JWT_SECRET",
        "PEONY_GRPC_PORT",
        "PEONY_PII_KEY",
    ):
        assert needle in text
    key = base64.b64encode(b"k" * 32).decode()
    with pytest.raises(ConfigError, match="development secret"):
        load_config(
            "members",
            {
                "PEONY_ENV": "prod",
                "PEONY_DATABASE_URL": "postgresql://h/",
                "PEONY_NATS_URL": "nats://n:4222",
                "PEONY_JWT_SECRET": DEV_JWT_SECRET,
                "PEONY_PII_KEY": key,
            },
        )


def test_consumer_settings_have_defaults_for_two_cores_and_are_checked():
    base = {"PEONY_DATABASE_URL": "postgresql://peony@db:5432/postgres"}
    cfg = load_config("wallet", base)
    assert cfg.consumer.options() == {
        "batch": 128,
        "concurrency": 2,
        "max_ack_pending": 1000,
        "stats_interval": 5.0,
        "lag_warn": 10_000,
    }
    cfg = load_config(
        "wallet",
        {**base, "PEONY_CONSUMER_BATCH": "512", "PEONY_CONSUMER_CONCURRENCY": "4"},
    )
    assert (cfg.consumer.batch, cfg.consumer.concurrency, cfg.consumer.max_ack_pending) == (512, 4, 2048)
    with pytest.raises(ConfigError) as err:
        load_config(
            "wallet",
            {
                **base,
                "PEONY_CONSUMER_BATCH": "0",
                "PEONY_CONSUMER_CONCURRENCY": "many",
                "PEONY_CONSUMER_STATS_INTERVAL_SECONDS": "0",
            },
        )
    for needle in ("PEONY_CONSUMER_BATCH", "PEONY_CONSUMER_CONCURRENCY", "PEONY_CONSUMER_STATS_INTERVAL"):
        assert needle in str(err.value)
    with pytest.raises(ConfigError, match="at least PEONY_CONSUMER_BATCH"):
        load_config(
            "wallet", {**base, "PEONY_CONSUMER_BATCH": "256", "PEONY_CONSUMER_MAX_ACK_PENDING": "100"}
        )


# --- auth ------------------------------------------------------------------------------------
def test_valid_token_yields_principal_with_role_permissions_and_store_scope():
    token = mint_dev_token(tenant="t1", subject="user:amy", roles=["front_desk"], stores=["s1"])
    p = TokenVerifier(AUTH).verify_header(f"Bearer {token}")
    assert (p.tenant, p.subject) == ("t1", "user:amy")
    assert p.has("members.pii.read") and not p.has("stores.manage")
    assert p.stores == frozenset({"stores/s1"})
    p.require_store("stores/s1")
    with pytest.raises(PermissionDenied):
        p.require_store("stores/s2")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda: mint_dev_token(tenant="t", subject="s", roles=["hq_admin"], ttl_seconds=-120),
            "TOKEN_EXPIRED",
        ),
        (
            lambda: mint_dev_token(
                tenant="t",
                subject="s",
                roles=["hq_admin"],
                secret="not-the-secret-but-long-enough-for-hs256!!",
            ),
            "INVALID_TOKEN",
        ),
        (
            lambda: mint_dev_token(tenant="t", subject="s", roles=["hq_admin"], audience="other"),
            "INVALID_TOKEN",
        ),
        (lambda: mint_dev_token(tenant="t", subject="s", roles=["hq_admin"], issuer="evil"), "INVALID_TOKEN"),
        (lambda: mint_dev_token(tenant="t", subject="s", roles=["superuser"]), "INVALID_TOKEN"),
        (
            lambda: jwt.encode(
                {"sub": "s", "tenant": "t", "iss": "peony", "aud": "peony", "exp": time.time() + 60},
                None,
                algorithm="none",
            ),
            "INVALID_TOKEN",
        ),
        (lambda: "not-a-jwt", "INVALID_TOKEN"),
    ],
)
def test_bad_tokens_are_refused(make, reason):
    with pytest.raises(Unauthenticated) as err:
        TokenVerifier(AUTH).verify(make())
    assert err.value.reason == reason


def test_missing_or_malformed_authorization_header():
    v = TokenVerifier(AUTH)
    with pytest.raises(Unauthenticated) as err:
        v.verify_header(None)
    assert err.value.reason == "MISSING_CREDENTIALS"
    with pytest.raises(Unauthenticated):
        v.verify_header("Basic abc")


def test_member_token_only_reaches_own_record():
    token = mint_dev_token(tenant="t", subject="members/m1", roles=["member"])
    p = TokenVerifier(AUTH).verify(token)
    p.require_member("members/m1")
    with pytest.raises(PermissionDenied):
        p.require_member("members/m2")


# --- crypto ----------------------------------------------------------------------------------
def test_envelope_encryption_round_trip_and_tenant_isolation():
    cipher = PiiCipher(b"m" * 32)
    dek, wrapped = cipher.new_data_key("t1")
    blob = cipher.encrypt_field(dek, "+8613812345678", "t1/m1/phone")
    assert b"13812345678" not in blob and b"13812345678" not in wrapped
    assert cipher.decrypt_field(cipher.unwrap("t1", wrapped), blob, "t1/m1/phone") == "+8613812345678"
    with pytest.raises(DecryptionError):
        cipher.unwrap("t2", wrapped)  # another tenant's key cannot unwrap it
    with pytest.raises(DecryptionError):
        cipher.decrypt_field(dek, blob, "t1/m2/phone")  # a ciphertext moved to another row fails


def test_blind_index_is_deterministic_per_tenant_and_keyed():
    a, b = PiiCipher(b"m" * 32), PiiCipher(b"n" * 32)
    assert a.blind_index("t1", "phone", "+86138") == a.blind_index("t1", "phone", "+86138")
    assert a.blind_index("t1", "phone", "+86138") != a.blind_index("t2", "phone", "+86138")
    assert a.blind_index("t1", "phone", "+86138") != b.blind_index("t1", "phone", "+86138")


# --- pagination ------------------------------------------------------------------------------
def test_page_tokens_are_bound_to_their_query():
    tokens = PageTokens(b"s" * 32)
    token = tokens.encode({"after": "m9"}, binding="t1|members|store-a")
    assert tokens.decode(token, binding="t1|members|store-a") == {"after": "m9"}
    for binding in ("t2|members|store-a", "t1|members|store-b"):
        with pytest.raises(InvalidArgument):
            tokens.decode(token, binding=binding)
    with pytest.raises(InvalidArgument):
        tokens.decode(token[:-2] + "AA", binding="t1|members|store-a")
    assert tokens.decode("", binding="x") is None
    assert page_size(0) == 50 and page_size(10_000) == 500
    with pytest.raises(InvalidArgument):
        page_size(-1)


# --- errors and ids --------------------------------------------------------------------------
def test_invalid_argument_carries_error_info_and_field_violations():
    status = InvalidArgument([("member.phone", "is required")]).to_status()
    assert status.code == 3
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and info.reason == "INVALID_ARGUMENT" and info.domain == "peony.dev"
    assert status.details[1].Unpack(bad) and bad.field_violations[0].field == "member.phone"
    nf = NotFound("gone", reason="MEMBER_NOT_FOUND").to_status()
    assert nf.code == 5 and nf.details[0].Unpack(info) and info.reason == "MEMBER_NOT_FOUND"


def test_ids():
    first, second = uuid7(), uuid7()
    assert first.version == 7 and first.int >> 80 <= second.int >> 80  # time-ordered prefix
    assert parse_name("members/abc", "members") == "abc"
    assert parse_name("members/abc/cards/x", "members") is None
    assert parse_name("stores/abc", "members") is None
    assert is_request_id("3f1c-uuid:1") and not is_request_id("") and not is_request_id("x" * 65)
