"""What the contract suites (fuzz and authorization matrix) share: every RPC of every service read
from the generated descriptors, the resource names the protos declare, tokens, raw calls, and an
exact "did this tenant's data change" fingerprint of a service's database.

Nothing here knows a particular RPC: a new RPC, field or resource is covered by being in the
descriptors.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import asyncpg
import grpc
import nats
from google.api import resource_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message_factory
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kit.auth import mint_dev_token
from kit.config import WITHOUT_DATABASE

SERVICES = ("members", "wallet", "booking", "notify", "insights")
"""The gRPC services, by the key their address (and database) use in the configuration."""

DATABASE_SERVICES = tuple(s for s in SERVICES if s not in WITHOUT_DATABASE)
"""The services with a PostgreSQL database of their own: the ones whose writes are fingerprinted.

insights is not among them: it keeps its facts in chDB, inside its own process (chDB is an
embedded engine: its data directory is not shared with a second process), and its RPCs are
read-only by construction: the servicer only queries the warehouse, and the facts are written
by its event consumers alone (from the other services' streams, whose writes are fingerprinted
there). So "a refused request writes nothing" holds for insights vacuously: `fingerprint` of it
is empty; the fuzz and the matrix still check its statuses, health and authorization."""

# --- the RPCs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    service: str  # "members", "wallet", ...
    method: _descriptor.MethodDescriptor

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def id(self) -> str:
        return f"{self.service}.{self.method.name}"

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def request_class(self) -> type[Message]:
        return message_factory.GetMessageClass(self.method.input_type)

    @property
    def is_read(self) -> bool:
        return self.method.name.startswith(("Get", "List", "Find", "Query"))


def _service_module(service: str):
    module = __import__(f"peony.{service}.v1.{service}_service_pb2", fromlist=["DESCRIPTOR"])
    return module.DESCRIPTOR


@cache
def all_rpcs() -> tuple[Rpc, ...]:
    """Every unary RPC of every Peony service, from the generated descriptors."""
    out = []
    for service in SERVICES:
        for svc in _service_module(service).services_by_name.values():
            for method in svc.methods:
                assert not (method.client_streaming or method.server_streaming), method.full_name
                out.append(Rpc(service, method))
    return tuple(out)


def rpc_count() -> int:
    """The number of methods in the descriptors, counted independently of `all_rpcs`."""
    return sum(len(svc.methods) for s in SERVICES for svc in _service_module(s).services_by_name.values())


# --- resource names ------------------------------------------------------------------------------


@cache
def resource_patterns() -> dict[str, tuple[str, ...]]:
    """`members.peony.dev/Member` -> ("members/{member}",): every resource the protos declare."""
    out: dict[str, tuple[str, ...]] = {}
    seen: set[str] = set()

    def visit(desc: _descriptor.Descriptor) -> None:
        if desc.full_name in seen:
            return
        seen.add(desc.full_name)
        options = desc.GetOptions()
        if options.HasExtension(resource_pb2.resource):
            res = options.Extensions[resource_pb2.resource]
            out[res.type] = tuple(res.pattern)
        for nested in desc.nested_types:
            visit(nested)
        for f in desc.fields:
            if f.message_type is not None:
                visit(f.message_type)

    for service in SERVICES:
        file = _service_module(service)
        for dep in (file, *file.dependencies):
            for msg in dep.message_types_by_name.values():
                visit(msg)
    return out


def reference_of(fd: _descriptor.FieldDescriptor) -> tuple[str, bool] | None:
    """(resource type, is a parent reference) of a field annotated `google.api.resource_reference`."""
    options = fd.GetOptions()
    if not options.HasExtension(resource_pb2.resource_reference):
        return None
    ref = options.Extensions[resource_pb2.resource_reference]
    if ref.type:
        return ref.type, False
    if ref.child_type:
        return ref.child_type, True
    return None


def patterns_for(fd: _descriptor.FieldDescriptor) -> tuple[str, ...]:
    """The name patterns a reference field accepts ("stores/{store}" for a Staff parent)."""
    ref = reference_of(fd)
    if ref is None:
        return ()
    type_, parent = ref
    patterns = resource_patterns().get(type_, ())
    if parent:
        patterns = tuple("/".join(p.split("/")[:-2]) for p in patterns if p.count("/") >= 2)
    return tuple(p for p in patterns if p)


def fill_pattern(pattern: str, value: Callable[[str], str]) -> str:
    """`members/{member}/wallet` with each `{var}` replaced by `value(var)`."""
    return re.sub(r"\{([a-z_]+)\}", lambda m: value(m.group(1)), pattern)


# --- tokens --------------------------------------------------------------------------------------

VALID_TOKENS = ("hq_admin", "front_desk@s1", "member-self")
INVALID_TOKENS = ("none", "garbage", "wrong-secret", "expired", "unknown-role")


def metadata_for(kind: str, tenant: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata of a token `kind` for `tenant` (see VALID_TOKENS and INVALID_TOKENS)."""
    if kind == "none":
        return ()
    if kind == "garbage":
        return (("authorization", "Bearer not.a.jwt"),)
    if kind == "wrong-secret":
        token = mint_dev_token(
            tenant=tenant, subject="user:x", roles=["hq_admin"], secret="not-the-secret" * 3
        )
    elif kind == "expired":
        token = mint_dev_token(tenant=tenant, subject="user:x", roles=["hq_admin"], ttl_seconds=-3600)
    elif kind == "unknown-role":
        token = mint_dev_token(tenant=tenant, subject="user:x", roles=["superuser"])
    elif kind == "hq_admin":
        token = mint_dev_token(tenant=tenant, subject="user:fuzz", roles=["hq_admin"])
    elif kind == "front_desk@s1":
        token = mint_dev_token(tenant=tenant, subject="user:fd", roles=["front_desk"], stores=["stores/s1"])
    elif kind == "member-self":
        token = mint_dev_token(tenant=tenant, subject=f"members/{uuid.uuid4()}", roles=["member"])
    else:
        raise ValueError(kind)
    return (("authorization", f"Bearer {token}"),)


# --- calls ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    code: grpc.StatusCode
    message: str
    reason: str = ""
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.code == grpc.StatusCode.OK

    def __str__(self) -> str:
        reason = f" {self.reason}" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message[:200]!r}"


LEAKS = ("Traceback", "Unexpected <class", 'File "/')
"""Text of a server-side exception that must never reach a client."""


def call(channel: grpc.Channel, rpc: Rpc, body: bytes, metadata, timeout: float = 30.0) -> Outcome:
    """`body` (serialized, or any bytes) to `rpc`; the status, never an exception."""
    stub = channel.unary_unary(rpc.path)  # no (de)serializers: raw bytes both ways
    try:
        reply = stub(body, metadata=metadata, timeout=timeout)
    except grpc.RpcError as err:
        reason = ""
        raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
        if raw:
            for any_ in status_pb2.Status.FromString(raw).details:
                info = error_details_pb2.ErrorInfo()
                if any_.Unpack(info):
                    reason = info.reason
        return Outcome(err.code(), err.details() or "", reason)
    return Outcome(grpc.StatusCode.OK, "", body=reply)


def healthy(channel: grpc.Channel) -> bool:
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    except grpc.RpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


# --- the databases -------------------------------------------------------------------------------


async def _pool(dsn: str) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=1, max_size=2)


class Databases:
    """Sync access to the services' databases (asyncpg on a loop thread of its own, so the
    hypothesis-driven sync tests can ask between calls)."""

    def __init__(self, urls: dict[str, str], nats_url: str | None = None):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="contract-db", daemon=True)
        self._thread.start()
        self._pools: dict[str, asyncpg.Pool] = {}
        self._tables: dict[str, list[str]] = {}
        for service, url in urls.items():
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            self._pools[service] = self.run(lambda d=dsn: _pool(d))
            self._tables[service] = self.run(lambda s=service: self._tenant_tables(s))
        self._nats = self.run(lambda: nats.connect(nats_url)) if nats_url else None

    def consumer_backlog(self) -> int:
        """Messages the services' durable consumers have not yet acknowledged (not yet delivered,
        or delivered and still being handled), over every stream. Only the durables the services
        name (`members-...`, `insights-...`): a test's own leftover consumer is no one's backlog."""
        return sum(self.consumer_backlogs().values())

    def consumer_backlogs(self) -> dict[str, int]:
        """`stream/durable` -> its backlog, for the durables that have one."""
        if self._nats is None:
            return {}

        async def go() -> dict[str, int]:
            js = self._nats.jetstream()
            found: dict[str, int] = {}
            for stream in await js.streams_info():
                for consumer in await js.consumers_info(stream.config.name):
                    if (consumer.name or "").startswith(tuple(f"{s}-" for s in SERVICES)):
                        backlog = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
                        if backlog:
                            found[f"{stream.config.name}/{consumer.name}"] = backlog
            return found

        return self.run(go)

    def run(self, factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run_coroutine_threadsafe(factory(), self._loop).result(60)

    async def _tenant_tables(self, service: str) -> list[str]:
        rows = await self._pools[service].fetch(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY table_name"
        )
        return [r["table_name"] for r in rows]

    def fingerprint(self, service: str, tenant: str) -> dict[str, tuple[int, int]]:
        """table -> (rows, sum of row hashes) of `tenant` in `service`'s database: exact for
        inserts and deletes, and for updates up to a hash collision. The outbox counts rows only:
        its relay marks rows published on its own schedule. Empty for a service without a
        PostgreSQL database (insights: see DATABASE_SERVICES)."""
        if service not in self._pools:
            assert service in WITHOUT_DATABASE, service
            return {}
        parts = []
        for table in self._tables[service]:
            assert re.fullmatch(r"[a-z_0-9]+", table), table
            digest = "0" if table == "outbox" else "coalesce(sum(hashtext(x::text)::bigint), 0)"
            parts.append(
                f"SELECT '{table}' AS t, count(*) AS n, {digest} AS h FROM {table} x WHERE tenant_id = $1"  # noqa: S608 - names from information_schema
            )
        sql = " UNION ALL ".join(parts)

        async def go():
            return {r["t"]: (r["n"], int(r["h"])) for r in await self._pools[service].fetch(sql, tenant)}

        return self.run(go)

    def rows_of(self, service: str, tenant: str) -> dict[str, int]:
        """Tables of `service` holding rows of `tenant`, and how many (empty for an untouched tenant)."""
        return {t: n for t, (n, _h) in self.fingerprint(service, tenant).items() if n}

    def scalar(self, service: str, sql: str, *args: Any) -> Any:
        return self.run(lambda: self._pools[service].fetchval(sql, *args))

    def close(self) -> None:
        if self._nats is not None:
            self.run(self._nats.close)
        for pool in self._pools.values():
            self.run(pool.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Tables whose fingerprint differs: `table rows a->b` (or `table updated`)."""
    out = []
    for table in sorted(set(before) | set(after)):
        a, b = before.get(table, (0, 0)), after.get(table, (0, 0))
        if a != b:
            out.append(f"{table} rows {a[0]}->{b[0]}" if a[0] != b[0] else f"{table} updated")
    return out


# --- the tally printed at the end of the run -----------------------------------------------------


@dataclass
class Tally:
    rpcs: set[str] = field(default_factory=set)
    cases: int = 0
    internal: int = 0
    writes_on_refusal: int = 0
    routes: set[str] = field(default_factory=set)
    http_cases: int = 0
    http_500: int = 0
    references: int = 0
    matrix_rpcs: set[str] = field(default_factory=set)
    matrix_calls: int = 0
    matrix_unexpected: int = 0
    matrix_unexercised: int = 0
    unauthorized_effects: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.rpcs:
            out.append(
                f"fuzz: {len(self.rpcs)} RPCs, {self.cases} cases, {self.internal} INTERNAL/UNKNOWN,"
                f" {self.writes_on_refusal} writes on refusal, {self.references} unknown-reference checks"
            )
        if self.routes:
            out.append(
                f"fuzz (gateway): {len(self.routes)} routes, {self.http_cases} cases,"
                f" {self.http_500} HTTP 500"
            )
        if self.matrix_rpcs:
            out.append(
                f"authz matrix: {len(self.matrix_rpcs)} RPCs, {self.matrix_calls} calls,"
                f" {self.matrix_unexpected} outcomes unlike the table ({self.matrix_unexercised} denials"
                " not exercised: the request is refused for every caller),"
                f" {self.unauthorized_effects} unauthorized effects"
            )
        return out + self.notes


TALLY = Tally()
