"""Service configuration from ``PEONY_*`` environment variables, validated once at start.

Every setting is read here and nowhere else, so a misconfigured pod fails at start with one
message that lists every bad variable instead of failing on the first request.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from kit.grpc_client import LB_POLICIES, ClientChannelSettings
from kit.throttle import load_throttle_settings

DEFAULT_GRPC_PORTS: dict[str, int] = {
    "members": 50051,
    "wallet": 50052,
    "booking": 50053,
    "notify": 50054,
    "insights": 50055,
}
# Processes that keep no PostgreSQL database (insights keeps its facts in ClickHouse).
WITHOUT_DATABASE = frozenset({"gateway", "insights"})
DEFAULT_GATEWAY_ADDR = "127.0.0.1:8080"
# SQLAlchemy pool size per service when PEONY_DB_POOL_SIZE does not set one (kit.service.open_backbone).
DEFAULT_DB_POOL_SIZES: dict[str, int] = {"members": 20, "wallet": 20, "booking": 20}
DEFAULT_DB_POOL_SIZE = 10
# Default admission bound (PEONY_MAX_INFLIGHT_RPCS) per database connection a replica may open
# (pool size + overflow). An RPC holds a connection for most of its life (one transaction) but
# not all of it (token, decoding, the reply, a call to another service): two per connection keeps
# every connection busy, while a call admitted past the pool waits for at most about one
# transaction -- instead of the seconds SQLAlchemy's pool queue (pool_timeout: 30 s) would hold
# it. More concurrency than that adds no throughput on a CPU-bound replica, only latency.
INFLIGHT_RPCS_PER_DB_CONNECTION = 2
# Queueing-time shedding (PEONY_SHED_QUEUE_TARGET_MS, kit.grpc_server.AdmissionControl): a queue
# "stands" when even the shortest wait before a handler over an interval exceeded the target; while
# it does, calls that waited over twice the target are refused. Off by default (0): at 20 ms it
# refused legitimate bursts on a CPU-starved 2-core CI machine (a 1,000-registration e2e burst got
# 429s); bench/bench_overload.py measures it with PEONY_SHED_QUEUE_TARGET_MS=20.
DEFAULT_SHED_QUEUE_TARGET_MS = 0
DEFAULT_SHED_QUEUE_INTERVAL_MS = 100
DEV_JWT_SECRET = "peony-development-secret-do-not-use-in-production"  # noqa: S105 - dev only, refused in prod


class ConfigError(Exception):
    """Raised at start when the environment does not describe a runnable service."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class AuthConfig:
    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    hs256_secret: str | None
    jwks_url: str | None


@dataclass(frozen=True)
class NatsSettings:
    """How the process authenticates to NATS and how its streams are replicated.

    Credentials are files (mounted Secrets), never values in the environment: nats-py reads a
    ``.creds`` file (JWT + nkey seed of an operator-mode user) or an nkey seed file itself.
    """

    creds_file: str | None = None  # PEONY_NATS_CREDS_FILE: a .creds file (user JWT + nkey seed)
    nkey_seed_file: str | None = None  # PEONY_NATS_NKEY_SEED_FILE: an nkey seed (SU...) file
    tls_ca_file: str | None = None  # PEONY_NATS_TLS_CA_FILE: CA bundle to verify the servers
    tls_cert_file: str | None = None  # PEONY_NATS_TLS_CERT_FILE: client certificate (mutual TLS)
    tls_key_file: str | None = None  # PEONY_NATS_TLS_KEY_FILE: its private key
    tls_hostname: str | None = None  # PEONY_NATS_TLS_HOSTNAME: name to verify, if not the URL's
    stream_replicas: int = 1  # PEONY_NATS_STREAM_REPLICAS: 1 (single server) .. 5; 3 in prod

    @property
    def tls(self) -> bool:
        return self.tls_ca_file is not None or self.tls_cert_file is not None


@dataclass(frozen=True)
class ConsumerSettings:
    """How every event consumer of the process fetches and applies (``kit.messaging.consumer``).

    Defaults fit a 2-core node: a fetch of up to 128 events is applied in at most 2 transactions
    (shards of aggregates) at once, each one commit for its whole shard.
    """

    batch: int = 128  # PEONY_CONSUMER_BATCH: messages per fetch
    concurrency: int = 2  # PEONY_CONSUMER_CONCURRENCY: shard transactions of one fetch at once
    # PEONY_CONSUMER_MAX_ACK_PENDING: delivered and unanswered per durable (default max(1000, 4 x batch))
    max_ack_pending: int = 1000
    stats_interval: float = 5.0  # PEONY_CONSUMER_STATS_INTERVAL_SECONDS: lag gauges refresh
    lag_warn: int = 10_000  # PEONY_CONSUMER_LAG_WARN: log consumer.lagging at this backlog

    def options(self) -> dict[str, int | float]:
        """Keyword arguments for ``EventConsumer``."""
        return {
            "batch": self.batch,
            "concurrency": self.concurrency,
            "max_ack_pending": self.max_ack_pending,
            "stats_interval": self.stats_interval,
            "lag_warn": self.lag_warn,
        }


@dataclass(frozen=True)
class ServiceConfig:
    service: str
    env: str
    version: str
    grpc_host: str
    grpc_port: int
    database_url: str
    nats_url: str
    auth: AuthConfig
    pii_master_key: bytes
    log_level: str
    log_format: str
    max_message_bytes: int
    shutdown_grace_seconds: float
    migrate_on_start: bool
    service_addrs: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)
    # PEONY_MAX_EVENT_BYTES; 0 = the messaging kit's default (NATS's 1 MiB max_payload minus headroom)
    max_event_bytes: int = 0
    # PEONY_DB_POOL_SIZE / PEONY_DB_MAX_OVERFLOW (or PEONY_<SVC>_DB_...); 0 pool size = the service's default
    db_pool_size: int = 0
    db_max_overflow: int = 20
    # PEONY_MAX_INFLIGHT_RPCS (or PEONY_<SVC>_...); 0 = derived from the pool (`max_inflight_rpcs`)
    max_inflight_rpcs_setting: int = 0
    # PEONY_MIN_DEADLINE_MS: a call arriving with less time than this left is DEADLINE_EXCEEDED unrun
    min_deadline_ms: int = 5
    # PEONY_SHED_LOOP_LAG_MS: refuse new calls while the event loop runs this late (0 = off)
    shed_loop_lag_ms: int = 0
    # PEONY_SHED_QUEUE_TARGET_MS / _INTERVAL_MS: CoDel on the time a call queued before its handler
    # (kit.grpc_server.AdmissionControl; 0 = off)
    shed_queue_target_ms: int = DEFAULT_SHED_QUEUE_TARGET_MS
    shed_queue_interval_ms: int = DEFAULT_SHED_QUEUE_INTERVAL_MS
    # PEONY_DB_STATEMENT_TIMEOUT_MS: PostgreSQL's statement_timeout on every pooled connection
    db_statement_timeout_ms: int = 30_000
    # PEONY_DB_HOT_POOL_SIZE (or PEONY_<SVC>_...): asyncpg connections of a hot path's own pool
    # (wallet's one-call Checkout/TopUp), on top of the SQLAlchemy pool
    db_hot_pool_size: int = 10

    @property
    def effective_db_pool_size(self) -> int:
        return self.db_pool_size or DEFAULT_DB_POOL_SIZES.get(self.service, DEFAULT_DB_POOL_SIZE)

    @property
    def max_inflight_rpcs(self) -> int:
        """The admission bound of the gRPC server (kit.grpc_server): concurrent RPCs beyond it
        are refused with RESOURCE_EXHAUSTED. Static; by default two per database connection."""
        if self.max_inflight_rpcs_setting:
            return self.max_inflight_rpcs_setting
        return INFLIGHT_RPCS_PER_DB_CONNECTION * (self.effective_db_pool_size + self.db_max_overflow)

    consumer: ConsumerSettings = field(default_factory=ConsumerSettings)
    # PEONY_GRPC_LB_POLICY, PEONY_GRPC_KEEPALIVE_*: every client channel (kit/grpc_client.py)
    grpc_channel: ClientChannelSettings = field(default_factory=ClientChannelSettings)
    # PEONY_GRPC_MAX_CONNECTION_AGE_MS (+ _GRACE_MS): the server closes each connection after this
    # age (jittered by gRPC), so clients resolve again and spread onto replicas added since.
    grpc_max_connection_age_ms: int = 300_000
    grpc_max_connection_age_grace_ms: int = 30_000
    # PEONY_GRPC_MIN_PING_INTERVAL_MS: the most frequent client keepalive ping the server accepts
    # (must stay below the clients' PEONY_GRPC_KEEPALIVE_TIME_MS, or it answers with GOAWAY)
    grpc_min_ping_interval_ms: int = 10_000
    # insights: a ClickHouse server (http[s]://user:password@host:8123/database); empty = chDB in-process
    clickhouse_url: str = ""
    nats: NatsSettings = field(default_factory=NatsSettings)
    # PEONY_DATABASE_SESSION_URL (or PEONY_<SVC>_...): a direct, session-mode connection for what a
    # transaction-mode pooler breaks (the relay's LISTEN, the migration's advisory lock); "" = database_url
    database_session_url: str = ""
    # PEONY_DB_PGBOUNCER: the pools go through PgBouncer in transaction mode: connect with only
    # application_name (it refuses other startup parameters; set them on the role instead)
    db_pgbouncer: bool = False
    # PEONY_DB_POOL_TIMEOUT_SECONDS: wait for a pooled connection at most this long, then fail
    db_pool_timeout_s: float = 10.0
    # PEONY_DB_POOL_RECYCLE_SECONDS: replace a pooled connection older than this
    db_pool_recycle_s: int = 1800

    @property
    def session_database_url(self) -> str:
        return self.database_session_url or self.database_url

    @property
    def db_connections_per_replica(self) -> int:
        """The most PostgreSQL (or PgBouncer client) connections one replica opens: the SQLAlchemy
        pool and its overflow, a hot-path pool (wallet), the relay's LISTEN connection."""
        hot = self.db_hot_pool_size if self.service == "wallet" else 0
        return self.effective_db_pool_size + self.db_max_overflow + hot + 1

    @property
    def grpc_addr(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    @property
    def is_production(self) -> bool:
        return self.env == "prod"


def service_database_url(base_url: str, service: str) -> str:
    """The database a service owns on the server named by ``base_url``: ``peony_<service>``.

    One PostgreSQL server can host every service's database in development; in production each
    service usually gets ``PEONY_<SVC>_DATABASE_URL`` pointing at its own database.
    """
    parts = urlsplit(base_url)
    scheme = parts.scheme
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, f"/peony_{service}", parts.query, parts.fragment))


def to_async_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        return urlunsplit(("postgresql+asyncpg", *parts[1:]))
    return url


def _pii_master_key(pii_raw: str | None, prod: bool, problems: list[str]) -> bytes:
    pii_key = b""
    if pii_raw is None:
        if prod:
            problems.append("PEONY_PII_KEY (base64 of 32 random bytes) is required in production")
        # A fixed development key keeps `peony serve` usable on its own; never used with PEONY_ENV=prod.
        pii_key = b"peony-dev-pii-master-key-32bytes"
    else:
        try:
            pii_key = base64.b64decode(pii_raw, validate=True)
        except ValueError:
            problems.append("PEONY_PII_KEY is not valid base64")
        if pii_key and len(pii_key) != 32:
            problems.append(f"PEONY_PII_KEY must decode to 32 bytes, got {len(pii_key)}")
    return pii_key


def pii_master_key_from_env(environ: Mapping[str, str] | None = None) -> bytes:
    """`PEONY_PII_KEY` alone, as `load_config` reads it (data migrations that encrypt need only this)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    raw = read_setting(env, "PEONY_PII_KEY", problems)  # or PEONY_PII_KEY_FILE, as load_config reads it
    key = _pii_master_key(raw, env.get("PEONY_ENV", "dev") == "prod", problems)
    if problems:
        raise ConfigError(problems)
    return key


def read_setting(env: Mapping[str, str], name: str, problems: list[str]) -> str | None:
    """``name`` from ``env``, else the content of the file ``<name>_FILE`` names (a Secret mounted
    as files: the value never sits in the process environment); None when neither is set."""
    value = env.get(name)
    if value not in (None, ""):
        return value
    file_name = env.get(f"{name}_FILE")
    if not file_name or not name.startswith("PEONY_") or name.endswith("_FILE"):
        return None
    try:
        with open(file_name, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError as exc:
        problems.append(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}")
        return None


def load_nats_settings(environ: Mapping[str, str] | None = None) -> NatsSettings:
    """The ``PEONY_NATS_*`` credentials, TLS and stream settings (also for `peony dlq`)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def get_file(name: str) -> str | None:
        path = read_setting(env, name, problems)
        if path is not None and not os.path.isfile(path):
            problems.append(f"{name}={path!r} is not a readable file")
        return path

    replicas_raw = read_setting(env, "PEONY_NATS_STREAM_REPLICAS", problems) or "1"
    replicas = int(replicas_raw) if replicas_raw.isdigit() else 0
    if not 1 <= replicas <= 5:
        problems.append(f"PEONY_NATS_STREAM_REPLICAS={replicas_raw!r} must be 1..5 (3 in production)")
    nats = NatsSettings(
        creds_file=get_file("PEONY_NATS_CREDS_FILE"),
        nkey_seed_file=get_file("PEONY_NATS_NKEY_SEED_FILE"),
        tls_ca_file=get_file("PEONY_NATS_TLS_CA_FILE"),
        tls_cert_file=get_file("PEONY_NATS_TLS_CERT_FILE"),
        tls_key_file=get_file("PEONY_NATS_TLS_KEY_FILE"),
        tls_hostname=read_setting(env, "PEONY_NATS_TLS_HOSTNAME", problems),
        stream_replicas=max(1, min(replicas, 5)),
    )
    if nats.creds_file and nats.nkey_seed_file:
        problems.append("set PEONY_NATS_CREDS_FILE or PEONY_NATS_NKEY_SEED_FILE, not both")
    if (nats.tls_cert_file is None) != (nats.tls_key_file is None):
        problems.append("PEONY_NATS_TLS_CERT_FILE and PEONY_NATS_TLS_KEY_FILE go together")
    if problems:
        raise ConfigError(problems)
    return nats


def load_config(service: str, environ: Mapping[str, str] | None = None) -> ServiceConfig:
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def get(name: str, default: str | None = None) -> str | None:
        value = read_setting(env, name, problems)
        return default if value is None else value

    def get_int(name: str, default: int, lo: int, hi: int) -> int:
        raw = get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            problems.append(f"{name}={raw!r} is not an integer")
            return default
        if not lo <= value <= hi:
            problems.append(f"{name}={value} is outside {lo}..{hi}")
        return value

    mode = get("PEONY_ENV", "dev")
    if mode not in ("dev", "test", "prod"):
        problems.append(f"PEONY_ENV={mode!r} must be one of dev, test, prod")
    prod = mode == "prod"
    svc = service.upper()

    db_url = get(f"PEONY_{svc}_DATABASE_URL")
    if db_url:
        db_url = to_async_url(db_url)
    else:
        base = get("PEONY_DATABASE_URL")
        if base is None:
            db_url = ""
            if service not in WITHOUT_DATABASE:
                problems.append(
                    f"PEONY_DATABASE_URL (or PEONY_{svc}_DATABASE_URL) is required, "
                    "e.g. postgresql://peony@127.0.0.1:5432/ - `peony up` sets it for you"
                )
        else:
            db_url = service_database_url(base, service)
    if service in WITHOUT_DATABASE:
        db_url = ""  # even when PEONY_DATABASE_URL is set for the others (`peony up`, a shared env)
    if db_url and not db_url.startswith("postgresql"):
        problems.append(f"database URL for {service} must be a postgresql:// URL")

    nats_url = get("PEONY_NATS_URL", "nats://127.0.0.1:4222" if not prod else None)
    if nats_url is None:
        problems.append("PEONY_NATS_URL is required in production")
        nats_url = ""

    secret = get("PEONY_JWT_SECRET")
    jwks = get("PEONY_JWKS_URL")
    algorithms = tuple(a.strip() for a in (get("PEONY_JWT_ALGORITHMS") or "").split(",") if a.strip())
    if not algorithms:
        algorithms = ("RS256",) if jwks else ("HS256",)
    bad_algs = [a for a in algorithms if a not in ("HS256", "RS256", "ES256")]
    if bad_algs:
        problems.append(
            f"PEONY_JWT_ALGORITHMS has unsupported algorithms {bad_algs}; allowed: HS256, RS256, ES256"
        )
    if "HS256" in algorithms and secret is None:
        if prod:
            problems.append("PEONY_JWT_SECRET is required for HS256 in production (or use PEONY_JWKS_URL)")
        secret = DEV_JWT_SECRET
    if prod and secret == DEV_JWT_SECRET:
        problems.append("PEONY_JWT_SECRET must not be the development secret in production")
    if any(a != "HS256" for a in algorithms) and jwks is None:
        problems.append("PEONY_JWKS_URL is required for RS256/ES256 tokens")

    pii_key = _pii_master_key(get("PEONY_PII_KEY"), prod, problems)

    log_level = (get("PEONY_LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"PEONY_LOG_LEVEL={log_level!r} must be DEBUG, INFO, WARNING or ERROR")
    log_format = get("PEONY_LOG_FORMAT", "json") or "json"
    if log_format not in ("json", "console"):
        problems.append("PEONY_LOG_FORMAT must be json or console")

    default_port = DEFAULT_GRPC_PORTS.get(service, 0)
    grpc_port = get_int(
        f"PEONY_{svc}_GRPC_PORT", get_int("PEONY_GRPC_PORT", default_port, 0, 65535), 0, 65535
    )
    grace = get_int("PEONY_SHUTDOWN_GRACE_SECONDS", 20, 1, 600)

    addrs = {
        name: get(f"PEONY_{name.upper()}_ADDR", f"127.0.0.1:{port}") or ""
        for name, port in DEFAULT_GRPC_PORTS.items()
    }
    addrs["gateway"] = get("PEONY_GATEWAY_ADDR", DEFAULT_GATEWAY_ADDR) or DEFAULT_GATEWAY_ADDR

    extra = {k: v for k, v in env.items() if k.startswith(f"PEONY_{svc}_")}
    max_event_bytes = get_int("PEONY_MAX_EVENT_BYTES", 0, 1024, 64 * 1024 * 1024)
    # Connections per replica: replicas x (pool + overflow) must stay under PostgreSQL's max_connections.
    db_pool_size = get_int(f"PEONY_{svc}_DB_POOL_SIZE", get_int("PEONY_DB_POOL_SIZE", 0, 1, 500), 1, 500)
    db_max_overflow = get_int(
        f"PEONY_{svc}_DB_MAX_OVERFLOW", get_int("PEONY_DB_MAX_OVERFLOW", 20, 0, 500), 0, 500
    )
    max_inflight = get_int(
        f"PEONY_{svc}_MAX_INFLIGHT_RPCS", get_int("PEONY_MAX_INFLIGHT_RPCS", 0, 1, 100_000), 1, 100_000
    )
    min_deadline_ms = get_int("PEONY_MIN_DEADLINE_MS", 5, 0, 60_000)
    shed_loop_lag_ms = get_int("PEONY_SHED_LOOP_LAG_MS", 0, 0, 10_000)
    shed_queue_target_ms = get_int("PEONY_SHED_QUEUE_TARGET_MS", DEFAULT_SHED_QUEUE_TARGET_MS, 0, 10_000)
    shed_queue_interval_ms = get_int(
        "PEONY_SHED_QUEUE_INTERVAL_MS", DEFAULT_SHED_QUEUE_INTERVAL_MS, 10, 60_000
    )
    statement_timeout_ms = get_int("PEONY_DB_STATEMENT_TIMEOUT_MS", 30_000, 100, 3_600_000)
    db_hot_pool_size = get_int(
        f"PEONY_{svc}_DB_HOT_POOL_SIZE", get_int("PEONY_DB_HOT_POOL_SIZE", 10, 1, 500), 1, 500
    )

    consumer_batch = get_int("PEONY_CONSUMER_BATCH", ConsumerSettings.batch, 1, 1024)
    consumer = ConsumerSettings(
        batch=consumer_batch,
        concurrency=get_int("PEONY_CONSUMER_CONCURRENCY", ConsumerSettings.concurrency, 1, 64),
        max_ack_pending=get_int(
            "PEONY_CONSUMER_MAX_ACK_PENDING",
            max(ConsumerSettings.max_ack_pending, 4 * consumer_batch),
            1,
            1_000_000,
        ),
        stats_interval=float(
            get_int("PEONY_CONSUMER_STATS_INTERVAL_SECONDS", int(ConsumerSettings.stats_interval), 1, 3600)
        ),
        lag_warn=get_int("PEONY_CONSUMER_LAG_WARN", ConsumerSettings.lag_warn, 1, 100_000_000),
    )
    if consumer.max_ack_pending < consumer.batch:
        problems.append(
            f"PEONY_CONSUMER_MAX_ACK_PENDING={consumer.max_ack_pending} must be at least "
            f"PEONY_CONSUMER_BATCH={consumer.batch}"
        )

    # PEONY_GRPC_*: every client channel's settings (kit/grpc_client.py documents each)
    lb_policy = (get("PEONY_GRPC_LB_POLICY", "round_robin") or "round_robin").strip()
    if lb_policy not in LB_POLICIES:
        problems.append(f"PEONY_GRPC_LB_POLICY={lb_policy!r} must be one of {', '.join(LB_POLICIES)}")
    health_raw = (get("PEONY_GRPC_CLIENT_HEALTH_CHECK", "on") or "on").strip().lower()
    if health_raw not in ("on", "off", "true", "false", "1", "0"):
        problems.append(f"PEONY_GRPC_CLIENT_HEALTH_CHECK={health_raw!r} must be on or off")
    channel_defaults = ClientChannelSettings()
    grpc_channel = ClientChannelSettings(
        lb_policy=lb_policy,
        health_check=health_raw in ("on", "true", "1"),
        keepalive_time_ms=get_int(
            "PEONY_GRPC_KEEPALIVE_TIME_MS", channel_defaults.keepalive_time_ms, 1_000, 3_600_000
        ),
        keepalive_timeout_ms=get_int(
            "PEONY_GRPC_KEEPALIVE_TIMEOUT_MS", channel_defaults.keepalive_timeout_ms, 100, 600_000
        ),
        max_reconnect_backoff_ms=get_int(
            "PEONY_GRPC_MAX_RECONNECT_BACKOFF_MS", channel_defaults.max_reconnect_backoff_ms, 100, 600_000
        ),
    )
    max_connection_age_ms = get_int("PEONY_GRPC_MAX_CONNECTION_AGE_MS", 300_000, 1_000, 86_400_000)
    max_connection_age_grace_ms = get_int("PEONY_GRPC_MAX_CONNECTION_AGE_GRACE_MS", 30_000, 0, 3_600_000)
    min_ping_interval_ms = get_int("PEONY_GRPC_MIN_PING_INTERVAL_MS", 10_000, 100, 3_600_000)
    if min_ping_interval_ms > grpc_channel.keepalive_time_ms:
        problems.append(
            f"PEONY_GRPC_MIN_PING_INTERVAL_MS={min_ping_interval_ms} must not exceed "
            f"PEONY_GRPC_KEEPALIVE_TIME_MS={grpc_channel.keepalive_time_ms}: the server would refuse "
            "the clients' keepalive pings"
        )
    session_url = get(f"PEONY_{svc}_DATABASE_SESSION_URL")
    if session_url:
        session_url = to_async_url(session_url)
    elif base_session := get("PEONY_DATABASE_SESSION_URL"):
        session_url = service_database_url(base_session, service)
    if session_url and not session_url.startswith("postgresql"):
        problems.append(f"session database URL for {service} must be a postgresql:// URL")

    try:
        nats = load_nats_settings(env)
    except ConfigError as exc:
        problems.extend(exc.problems)
        nats = NatsSettings()
    pgbouncer_raw = (get("PEONY_DB_PGBOUNCER", "false") or "false").lower()
    if pgbouncer_raw not in ("1", "true", "yes", "0", "false", "no"):
        problems.append(f"PEONY_DB_PGBOUNCER={pgbouncer_raw!r} must be true or false")
    pool_timeout = get_int("PEONY_DB_POOL_TIMEOUT_SECONDS", 10, 1, 300)
    pool_recycle = get_int("PEONY_DB_POOL_RECYCLE_SECONDS", 1800, 60, 86_400)
    try:  # client-side adaptive throttling (kit/throttle.py): read on first use, checked here
        load_throttle_settings(env)
    except ValueError as exc:
        problems.extend(str(exc).split("; "))

    if problems:
        raise ConfigError(problems)
    return ServiceConfig(
        service=service,
        env=mode or "dev",
        version=get("PEONY_VERSION", "0.1.0") or "0.1.0",
        grpc_host=get("PEONY_GRPC_HOST", "127.0.0.1") or "127.0.0.1",
        grpc_port=grpc_port,
        database_url=db_url,
        nats_url=nats_url,
        auth=AuthConfig(
            issuer=get("PEONY_JWT_ISSUER", "peony") or "peony",
            audience=get("PEONY_JWT_AUDIENCE", "peony") or "peony",
            algorithms=algorithms,
            hs256_secret=secret if "HS256" in algorithms else None,
            jwks_url=jwks,
        ),
        pii_master_key=pii_key,
        log_level=log_level,
        log_format=log_format,
        max_message_bytes=get_int("PEONY_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
        shutdown_grace_seconds=float(grace),
        migrate_on_start=(get("PEONY_MIGRATE_ON_START", "true") or "true").lower() in ("1", "true", "yes"),
        service_addrs=addrs,
        extra=extra,
        max_event_bytes=max_event_bytes,
        db_pool_size=db_pool_size,
        db_max_overflow=db_max_overflow,
        max_inflight_rpcs_setting=max_inflight,
        db_statement_timeout_ms=statement_timeout_ms,
        db_hot_pool_size=db_hot_pool_size,
        min_deadline_ms=min_deadline_ms,
        shed_loop_lag_ms=shed_loop_lag_ms,
        shed_queue_target_ms=shed_queue_target_ms,
        shed_queue_interval_ms=shed_queue_interval_ms,
        consumer=consumer,
        grpc_channel=grpc_channel,
        grpc_max_connection_age_ms=max_connection_age_ms,
        grpc_max_connection_age_grace_ms=max_connection_age_grace_ms,
        grpc_min_ping_interval_ms=min_ping_interval_ms,
        clickhouse_url=get("PEONY_CLICKHOUSE_URL", "") or "",
        nats=nats,
        database_session_url=session_url or "",
        db_pgbouncer=pgbouncer_raw in ("1", "true", "yes"),
        db_pool_timeout_s=float(pool_timeout),
        db_pool_recycle_s=pool_recycle,
    )
