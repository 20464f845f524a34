"""The ImportService end to end, through its public gRPC API: a generated legacy export of 2,000
members (with bad rows) uploaded in chunks, a dry run that writes nothing, an import whose
`peony serve members` process is SIGKILLed part way and restarted — the operation resumes and
finishes with every row exactly once, ending exactly where the `peony import` command ends for the
same file — a cancellation, and bad input refused with nothing written.

Real parts: members as a subprocess (so it can be killed), the wallet in process, both on their
own PostgreSQL databases; the members worker writes the wallet's rows through the wallet's
internal ApplyImportBatch."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.members.v1 import imports_pb2
from peony.members.v1 import members_service_pb2 as mpb
from peony.members.v1 import members_service_pb2_grpc as mpb_grpc
from peony.wallet.v1 import wallet_service_pb2 as wpb
from peony.wallet.v1 import wallet_service_pb2_grpc as wpb_grpc

from bench.legacy_export import STORES, write_members, write_stores
from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from services.members.adapters.legacy_files.mapping import load_mapping, shipped
from services.members.adapters.legacy_files.readers import read_csv
from services.members.adapters.legacy_files.records import MemberRecord, member_record
from services.members.adapters.legacy_import import imported_member_id
from tests.e2e.conftest import ServiceProcess
from tests.integration.importer.test_import_cli import Databases, _run
from tests.support.providers import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
TENANT = "acme"  # the CLI test's tenant: member ids and import ids derive from it
OTHER = "acme-rival"
N = 2_000
CHUNK = 64 * 1024
DONE = (
    imports_pb2.IMPORT_STATE_SUCCEEDED,
    imports_pb2.IMPORT_STATE_FAILED,
    imports_pb2.IMPORT_STATE_CANCELLED,
)


def md(tenant: str = TENANT, roles=("hq_admin",)):
    token = mint_dev_token(tenant=tenant, subject="user:importer", roles=list(roles))
    return (("authorization", f"Bearer {token}"),)


def _rid() -> str:
    return str(uuid.uuid4())


def members_process(url: str, nats_url: str, port: int, wallet_port: int, log_path: Path) -> ServiceProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEONY_", "OTEL_"))}
    env.update(
        {
            "PEONY_ENV": "test",
            "PEONY_MEMBERS_DATABASE_URL": url,
            "PEONY_NATS_URL": nats_url,
            "PEONY_MEMBERS_GRPC_PORT": str(port),
            "PEONY_WALLET_ADDR": f"127.0.0.1:{wallet_port}",
            "PEONY_MEMBERS_IMPORT_INTERVAL_SECONDS": "0.2",
            "PEONY_MEMBERS_IMPORT_LEASE_SECONDS": "3",
            "PEONY_MEMBERS_IMPORT_BATCH_ROWS": "100",
            # Birthday points for imported members born today would be a wallet write the CLI run
            # (no members process) does not make: not before 23:59 store time.
            "PEONY_MEMBERS_BIRTHDAY_TIME": "23:59",
            "PEONY_LOG_LEVEL": "WARNING",
            "PEONY_MIGRATE_ON_START": "false",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        }
    )
    return ServiceProcess(
        "members",
        [sys.executable, "-m", "cli.main", "serve", "members"],
        env,
        log_path,
        f"grpc:127.0.0.1:{port}",
    )


class Api:
    def __init__(self, port: int, wallet_port: int):
        self.channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}",
            options=[("grpc.max_send_message_length", 8 << 20), ("grpc.max_receive_message_length", 8 << 20)],
        )
        self.imports = mpb_grpc.ImportServiceStub(self.channel)
        self.wallet_channel = grpc.aio.insecure_channel(f"127.0.0.1:{wallet_port}")
        self.wallet = wpb_grpc.WalletServiceStub(self.wallet_channel)

    async def close(self):
        await self.channel.close()
        await self.wallet_channel.close()

    async def upload(self, data: bytes, file_name: str, tenant: str = TENANT, *, retry_every: int = 0) -> str:
        created = await self.imports.CreateImportUpload(
            mpb.CreateImportUploadRequest(
                upload=imports_pb2.ImportUpload(file_name=file_name, size_bytes=len(data)), request_id=_rid()
            ),
            metadata=md(tenant),
        )
        name = created.upload.name
        for i, offset in enumerate(range(0, len(data), CHUNK)):
            request = mpb.AppendImportChunkRequest(
                upload=name, offset=offset, data=data[offset : offset + CHUNK]
            )
            got = await self.imports.AppendImportChunk(request, metadata=md(tenant))
            if retry_every and i % retry_every == 0:  # the reply was "lost": the same chunk again
                again = await self.imports.AppendImportChunk(request, metadata=md(tenant))
                assert again.upload.received_bytes == got.upload.received_bytes
        assert got.upload.received_bytes == len(data)
        return name

    async def start(self, kind, upload: str, tenant: str = TENANT, **fields) -> str:
        started = await self.imports.StartImport(
            mpb.StartImportRequest(kind=kind, upload=upload, request_id=_rid(), **fields), metadata=md(tenant)
        )
        assert started.operation.metadata.state == imports_pb2.IMPORT_STATE_PENDING
        assert started.operation.name.startswith("operations/")
        return started.operation.name

    async def get(self, name: str, tenant: str = TENANT) -> imports_pb2.ImportOperation:
        return (
            await self.imports.GetOperation(mpb.GetOperationRequest(name=name), metadata=md(tenant))
        ).operation

    async def wait(
        self, name: str, timeout: float = 600.0, tenant: str = TENANT
    ) -> imports_pb2.ImportOperation:
        deadline = time.monotonic() + timeout
        seen_progress = set()
        while True:
            try:
                op = await self.get(name, tenant)
            except grpc.aio.AioRpcError as exc:  # the members process restarting
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                op = None
            if op is not None:
                seen_progress.add(op.metadata.rows_read)
                if op.done:
                    assert op.metadata.state in DONE
                    return op
            assert time.monotonic() < deadline, f"operation {name} not done after {timeout}s"
            await asyncio.sleep(0.2)

    async def report(self, name: str, page_size: int = 0) -> list[list[str]]:
        rows: list[list[str]] = []
        token = ""
        while True:
            got = await self.imports.GetImportErrorReport(
                mpb.GetImportErrorReportRequest(name=name, page_size=page_size, page_token=token),
                metadata=md(),
            )
            rows.extend(csv.reader(io.StringIO(got.csv.decode("utf-8").lstrip("\ufeff"))))
            token = got.next_page_token
            if not token:
                return rows


def _bad(rows: list[list[str]]) -> dict[int, tuple[str, str]]:
    assert rows[0] == ["行号", "列", "原因", "代码"]
    report = {int(r[0]): (r[1], r[3]) for r in rows[1:]}
    assert len(report) == len(rows) - 1, "one line per bad row"
    return report


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("legacy-api")
    stores, members = tmp / "stores.csv", tmp / "members.csv"
    write_stores(stores)
    expected = write_members(members, N)
    return tmp, stores, members, expected


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory):
    from services.wallet.entrypoints.app import build as build_wallet

    logs = tmp_path_factory.mktemp("import-api-logs")
    members_url = to_async_url(await infra.amigrated_database("members", "impop_members"))
    wallet_url = to_async_url(await infra.amigrated_database("wallet", "impop_wallet"))
    members_port = free_port()
    wallet = await build_wallet(
        load_config(
            "wallet",
            {
                "PEONY_WALLET_DATABASE_URL": wallet_url,
                "PEONY_NATS_URL": infra.nats_url,
                "PEONY_WALLET_GRPC_PORT": "0",
                "PEONY_MEMBERS_ADDR": f"127.0.0.1:{members_port}",
            },
        )
    )
    wallet_port = await wallet.start()
    members = members_process(members_url, infra.nats_url, members_port, wallet_port, logs / "members.log")
    await asyncio.to_thread(members.start)
    api = Api(members_port, wallet_port)
    db = Databases(members_url, wallet_url)
    try:
        yield api, db, members
    finally:
        await api.close()
        await asyncio.to_thread(members.stop)
        await wallet.stop()
        await db.dispose()


def _status(exc: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, list[str]]:
    """(code, reason, violated fields) of a refusal."""
    reason, fields = "", []
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    reason = info.reason
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    fields += [v.field for v in bad.field_violations]
    return exc.code(), reason, fields


async def _refused(call) -> tuple[grpc.StatusCode, str, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return _status(info.value)


async def test_bad_input_is_refused_and_writes_nothing(stack):
    api, db, _ = stack
    imports = api.imports
    before = await db.scalar(db.members, "SELECT count(*) FROM import_operations")
    name = await api.upload(b"Store ID,Name\ns7,Store 7\n", "stores.csv")
    rival_upload = await api.upload(b"Store ID,Name\ns8,Store 8\n", "stores.csv", tenant=OTHER)
    start = mpb.StartImportRequest

    # authorization first: a front desk may not import, whatever the request
    code, _, _ = await _refused(
        imports.StartImport(
            start(kind=imports_pb2.IMPORT_KIND_STORES, upload=name, request_id=_rid()),
            metadata=md(roles=("front_desk",)),
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _, _ = await _refused(
        imports.CreateImportUpload(
            mpb.CreateImportUploadRequest(
                upload=imports_pb2.ImportUpload(file_name="x.csv", size_bytes=10), request_id=_rid()
            ),
            metadata=md(roles=("store_manager",)),
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # unknown kind
    code, _, fields = await _refused(
        imports.StartImport(start(upload=name, request_id=_rid()), metadata=md())
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["kind"])
    # unknown upload, and another tenant's upload: not found
    for upload in (f"importUploads/{uuid.uuid4()}", rival_upload):
        code, _, _ = await _refused(
            imports.StartImport(
                start(kind=imports_pb2.IMPORT_KIND_STORES, upload=upload, request_id=_rid()), metadata=md()
            )
        )
        assert code == grpc.StatusCode.NOT_FOUND
    # a mapping that does not parse, an unknown shipped mapping, an unknown encoding
    for fields_in, field in (
        ({"mapping_yaml": "kind: stores\ncolumns: [unclosed"}, "mapping_yaml"),
        ({"mapping_yaml": "kind: stores\ncolumns: {nonsense: X}"}, "mapping_yaml"),
        ({"mapping": "../../etc/passwd"}, "mapping"),
        ({"encoding": "klingon-8"}, "encoding"),
    ):
        code, _, fields = await _refused(
            imports.StartImport(
                start(kind=imports_pb2.IMPORT_KIND_STORES, upload=name, request_id=_rid(), **fields_in),
                metadata=md(),
            )
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field]), fields_in
    # an incomplete upload cannot be imported
    partial = (
        await imports.CreateImportUpload(
            mpb.CreateImportUploadRequest(
                upload=imports_pb2.ImportUpload(file_name="m.csv", size_bytes=100), request_id=_rid()
            ),
            metadata=md(),
        )
    ).upload.name
    await imports.AppendImportChunk(
        mpb.AppendImportChunkRequest(upload=partial, offset=0, data=b"a" * 10), metadata=md()
    )
    code, reason, _ = await _refused(
        imports.StartImport(
            start(kind=imports_pb2.IMPORT_KIND_STORES, upload=partial, request_id=_rid()), metadata=md()
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UPLOAD_INCOMPLETE")
    # chunks: a gap, different bytes at a stored offset, past the declared size, over 2 MiB
    code, reason, _ = await _refused(
        imports.AppendImportChunk(
            mpb.AppendImportChunkRequest(upload=partial, offset=20, data=b"b"), metadata=md()
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "OFFSET_GAP")
    code, reason, _ = await _refused(
        imports.AppendImportChunk(
            mpb.AppendImportChunkRequest(upload=partial, offset=0, data=b"c" * 10), metadata=md()
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CHUNK_MISMATCH")
    code, _, fields = await _refused(
        imports.AppendImportChunk(
            mpb.AppendImportChunkRequest(upload=partial, offset=10, data=b"d" * 91), metadata=md()
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["data"])
    code, _, _ = await _refused(
        imports.AppendImportChunk(
            mpb.AppendImportChunkRequest(upload=partial, offset=10, data=b"e" * (2 * 1024 * 1024 + 1)),
            metadata=md(),
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # a chunk of another tenant's upload: not found
    code, _, _ = await _refused(
        imports.AppendImportChunk(
            mpb.AppendImportChunkRequest(upload=rival_upload, offset=0, data=b"S"), metadata=md()
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    # the file: over 512 MiB, no name, a path, an unknown type
    for upload, field in (
        (
            imports_pb2.ImportUpload(file_name="big.csv", size_bytes=512 * 1024 * 1024 + 1),
            "upload.size_bytes",
        ),
        (imports_pb2.ImportUpload(file_name="", size_bytes=10), "upload.file_name"),
        (imports_pb2.ImportUpload(file_name="../x.csv", size_bytes=10), "upload.file_name"),
        (imports_pb2.ImportUpload(file_name="x.exe", size_bytes=10), "upload.file_name"),
    ):
        code, _, fields = await _refused(
            imports.CreateImportUpload(
                mpb.CreateImportUploadRequest(upload=upload, request_id=_rid()), metadata=md()
            )
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])
    assert await db.scalar(db.members, "SELECT count(*) FROM import_operations") == before
    assert await db.scalar(db.members, "SELECT received_bytes FROM import_uploads WHERE upload_id = :u",
                           u=partial.split("/")[1]) == 10  # fmt: skip

    # another tenant never sees an operation
    op = await api.start(imports_pb2.IMPORT_KIND_STORES, name, mapping="stores_en", dry_run=True)
    code, _, _ = await _refused(imports.GetOperation(mpb.GetOperationRequest(name=op), metadata=md(OTHER)))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _, _ = await _refused(
        imports.CancelOperation(mpb.CancelOperationRequest(name=op), metadata=md(OTHER))
    )
    assert code == grpc.StatusCode.NOT_FOUND
    listed = await imports.ListOperations(mpb.ListOperationsRequest(), metadata=md(OTHER))
    assert op not in [o.name for o in listed.operations]
    listed = await imports.ListOperations(mpb.ListOperationsRequest(), metadata=md())
    assert op in [o.name for o in listed.operations]
    # paged, newest first, each once
    op2 = await api.start(imports_pb2.IMPORT_KIND_STORES, name, mapping="stores_en", dry_run=True)
    pages, token = [], ""
    while True:
        page = await imports.ListOperations(
            mpb.ListOperationsRequest(page_size=1, page_token=token), metadata=md()
        )
        pages += [o.name for o in page.operations]
        token = page.next_page_token
        if not token:
            break
    assert pages[:2] == [op2, op]
    code, _, _ = await _refused(
        imports.ListOperations(mpb.ListOperationsRequest(page_token=token or "bogus"), metadata=md(OTHER))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    await api.wait(op2)
    done = await api.wait(op)
    assert done.metadata.state == imports_pb2.IMPORT_STATE_SUCCEEDED
    assert done.response.rows_read == done.response.rows_imported == 1
    assert await db.scalar(db.members, "SELECT count(*) FROM stores WHERE store_id = 's7'") == 0, "dry run"

    # the wallet's ApplyImportBatch is members' identity's only
    for roles in (("hq_admin",), ("service",), ("notifier",)):
        code, _, _ = await _refused(
            api.wallet.ApplyImportBatch(
                wpb.ApplyImportBatchRequest(import_id="x", reconcile=True), metadata=md(roles=roles)
            )
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED, roles


def _record(path: Path, row: int) -> MemberRecord:
    mapping = load_mapping(shipped("yikayi_zh"), "members")
    header, rows = read_csv(path)
    mapping = mapping.fitted(header)
    for number, cells in rows:
        if number == row:
            record = member_record(number, cells, mapping)
            assert isinstance(record, MemberRecord)
            return record
    raise AssertionError(row)


@pytest.mark.timeout(2400)
async def test_an_import_survives_a_sigkill_and_ends_where_the_cli_ends(stack, export, infra):
    api, db, members = stack
    _, stores_csv, members_csv, expected = export

    stores_upload = await api.upload(stores_csv.read_bytes(), "stores.csv")
    stores_op = await api.wait(await api.start(imports_pb2.IMPORT_KIND_STORES, stores_upload))
    assert stores_op.metadata.state == imports_pb2.IMPORT_STATE_SUCCEEDED, stores_op.error
    assert stores_op.response.rows_imported == len(STORES)

    data = members_csv.read_bytes()
    upload = await api.upload(data, "会员.csv", retry_every=5)

    # A dry run: every check, nothing written; the upload is kept for the real import.
    dry = await api.wait(await api.start(imports_pb2.IMPORT_KIND_MEMBERS, upload, dry_run=True))
    assert dry.metadata.state == imports_pb2.IMPORT_STATE_SUCCEEDED, dry.error
    assert (dry.response.rows_read, dry.response.rows_rejected) == (N, expected.count_bad())
    assert dry.metadata.rows_total == N
    totals = dry.response.accepted_totals
    assert (totals.principal_minor, totals.bonus_minor, totals.points, totals.sessions) == tuple(
        expected.totals.values()
    )
    assert _bad(await api.report(f"{dry.name}", page_size=7)) == expected.bad, "paged report = the bad rows"
    assert await db.scalar(db.members, "SELECT count(*) FROM members") == 0
    assert await db.scalar(db.members, "SELECT count(*) FROM member_import_rows") == 0
    assert await db.scalar(db.wallet, "SELECT count(*) FROM ledger_transactions") == 0

    # The import, its process SIGKILLed part way, then restarted: the operation resumes.
    name = await api.start(imports_pb2.IMPORT_KIND_MEMBERS, upload, mapping="yikayi_zh")
    deadline = time.monotonic() + 600
    progress = []
    while True:
        op = await api.get(name)
        assert not op.done, "finished before it could be killed (batches too large?)"
        progress.append(op.metadata.rows_read)
        if op.metadata.rows_read >= 500:
            break
        assert time.monotonic() < deadline, "the import made no progress"
        await asyncio.sleep(0.05)
    assert op.metadata.rows_total == N and op.metadata.state == imports_pb2.IMPORT_STATE_RUNNING
    assert len(set(progress)) > 1, "done/total moved while it ran"
    members.signal(signal.SIGKILL)
    await asyncio.to_thread(members.wait, 30)
    at_kill = await db.scalar(db.members, "SELECT count(*) FROM member_import_rows")
    assert 400 <= at_kill < N - expected.count_bad(), "killed part way"
    await asyncio.to_thread(members.start)

    done = await api.wait(name)
    assert done.metadata.state == imports_pb2.IMPORT_STATE_SUCCEEDED, done.error
    r = done.response
    assert r.rows_read == N
    assert r.rows_rejected == expected.count_bad()
    assert r.rows_imported == N - expected.count_bad()
    for totals in (r.accepted_totals, r.ledger_totals):
        assert (totals.principal_minor, totals.bonus_minor, totals.points, totals.sessions) == tuple(
            expected.totals.values()
        )
    assert r.unbalanced_transactions == 0 and r.reconciled
    assert _bad(await api.report(name)) == expected.bad, "each bad row once, after the resume too"
    assert await db.scalar(db.members, "SELECT count(*) FROM import_uploads WHERE upload_id = :u",
                           u=upload.split("/")[1]) == 0, "the upload is deleted once imported"  # fmt: skip
    api_state = await db.snapshot()

    # Balances through the wallet's API, against the file's own values.
    for row in (3, 4, 17, 1001, N):
        record = _record(members_csv, row)
        member_id = imported_member_id(TENANT, record.card_number)
        got = await api.wallet.GetWallet(
            wpb.GetWalletRequest(name=f"members/{member_id}/wallet"), metadata=md()
        )
        assert (got.wallet.principal_minor, got.wallet.bonus_minor) == (
            record.principal_minor,
            record.bonus_minor,
        )

    # The same file through `peony import` on fresh databases ends in the same state.
    clean = Databases(
        to_async_url(await infra.amigrated_database("members", "impop_cli_members")),
        to_async_url(await infra.amigrated_database("wallet", "impop_cli_wallet")),
    )
    try:
        rc, _, err = await _run(clean.env, "stores", str(stores_csv), "--no-progress")
        assert rc == 0, err
        rc, summary, err = await _run(clean.env, "members", str(members_csv), "--no-progress")
        assert rc == 0, err
        assert summary["import_id"] == r.import_id
        assert await clean.snapshot() == api_state
    finally:
        await clean.dispose()


async def test_cancel_stops_an_import_between_batches(stack, export):
    api, db, _ = stack
    _, stores_csv, members_csv, _ = export
    tenant = "acme-cancel"
    stores = await api.upload(stores_csv.read_bytes(), "stores.csv", tenant=tenant)
    stores_op = await api.start(imports_pb2.IMPORT_KIND_STORES, stores, tenant=tenant)
    assert (await api.wait(stores_op, tenant=tenant)).response.rows_imported == len(STORES)
    upload = await api.upload(members_csv.read_bytes(), "members.csv", tenant=tenant)

    # cancelled while pending or running: it stops, and rows imported stay imported (once)
    name = await api.start(imports_pb2.IMPORT_KIND_MEMBERS, upload, tenant=tenant)
    deadline = time.monotonic() + 300
    while (await api.get(name, tenant)).metadata.rows_read < 100:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    cancelled = await api.imports.CancelOperation(mpb.CancelOperationRequest(name=name), metadata=md(tenant))
    assert cancelled.operation.metadata.HasField("cancel_time")
    op = await api.wait(name, tenant=tenant)
    assert op.metadata.state == imports_pb2.IMPORT_STATE_CANCELLED
    assert op.error.code == grpc.StatusCode.CANCELLED.value[0]
    assert op.metadata.rows_read < N, "stopped before the end of the file"
    await asyncio.sleep(2)  # a worker that kept going would move on
    again = await api.get(name, tenant)
    assert again.metadata.rows_read == op.metadata.rows_read
    imported = await db.scalar(
        db.members,
        "SELECT count(*) FROM member_import_rows WHERE tenant_id = :t AND outcome = 'imported'",
        t=tenant,
    )
    assert imported == op.metadata.rows_imported
    # cancelling a done operation changes nothing
    same = await api.imports.CancelOperation(mpb.CancelOperationRequest(name=name), metadata=md(tenant))
    assert same.operation.metadata.state == imports_pb2.IMPORT_STATE_CANCELLED


async def test_a_stopping_process_hands_its_import_over_at_once(stack, export):
    api, db, members = stack
    _, stores_csv, members_csv, expected = export
    tenant = "acme-term"
    stores = await api.upload(stores_csv.read_bytes(), "stores.csv", tenant=tenant)
    await api.wait(await api.start(imports_pb2.IMPORT_KIND_STORES, stores, tenant=tenant), tenant=tenant)
    upload = await api.upload(members_csv.read_bytes(), "members.csv", tenant=tenant)
    name = await api.start(imports_pb2.IMPORT_KIND_MEMBERS, upload, tenant=tenant)
    deadline = time.monotonic() + 300
    while (await api.get(name, tenant)).metadata.rows_read < 100:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    members.signal(signal.SIGTERM)
    await asyncio.to_thread(members.wait, 30)
    operation_id = name.split("/")[1]
    released = await db.scalar(
        db.members,
        "SELECT lease_expire_time <= now() FROM import_operations WHERE tenant_id = :t AND operation_id = :o",
        t=tenant,
        o=operation_id,
    )
    assert released, "the lease was handed back, not left to run out"
    await asyncio.to_thread(members.start)
    op = await api.wait(name, tenant=tenant)
    assert op.metadata.state == imports_pb2.IMPORT_STATE_SUCCEEDED, op.error
    assert op.response.rows_imported == N - expected.count_bad() and op.response.reconciled
    imported = await db.scalar(
        db.members,
        "SELECT count(*) FROM member_import_rows WHERE tenant_id = :t AND outcome = 'imported'",
        t=tenant,
    )
    assert imported == N - expected.count_bad()


async def test_legacy_vouchers_and_a_file_the_mapping_does_not_fit(stack):
    api, _, _ = stack
    tenant = "acme-vouchers"

    async def run(kind, data: bytes, file_name: str, **fields) -> imports_pb2.ImportOperation:
        upload = await api.upload(data, file_name, tenant=tenant)
        return await api.wait(await api.start(kind, upload, tenant=tenant, **fields), tenant=tenant)

    stores = await run(imports_pb2.IMPORT_KIND_STORES, "门店编号,门店名称\nqj,青浦店\n".encode(), "s.csv")
    assert stores.response.rows_imported == 1
    # a members import of a file without the members' columns fails, with its reason
    wrong = await run(imports_pb2.IMPORT_KIND_MEMBERS, "门店编号,门店名称\nqj,青浦店\n".encode(), "s.csv")
    assert wrong.metadata.state == imports_pb2.IMPORT_STATE_FAILED
    info = error_details_pb2.ErrorInfo()
    assert wrong.error.details[0].Unpack(info) and info.reason == "MAPPING_DOES_NOT_FIT"
    members = "会员卡号,一卡通号,姓名,手机,开卡门店\nVC-0001,YKT-77,李娜,13900000021,青浦店\n".encode()
    assert (await run(imports_pb2.IMPORT_KIND_MEMBERS, members, "m.csv")).response.rows_imported == 1
    vouchers = (
        "会员卡号,券号,券名称,面额,最低消费,有效期至\n"
        "YKT-77,LEG-0001,生日券,50,200,2027-12-31\n"  # found by the 一卡通号 alias
        "VC-0001,LEG-0002,,20.5,,\n"
        "NOPE-9999,LEG-0003,,10,,\n"  # no such card
        "VC-0001,LEG-0001,,10,,\n"  # code already used by row 2
        "VC-0001,LEG-0004,,0,,\n"  # no amount
    ).encode()
    for _ in range(2):  # the same file twice: the second issues nothing new
        op = await run(imports_pb2.IMPORT_KIND_VOUCHERS, vouchers, "v.csv")
        assert op.metadata.state == imports_pb2.IMPORT_STATE_SUCCEEDED, op.error
        r = op.response
        assert (r.rows_read, r.rows_imported, r.rows_rejected) == (5, 2, 3)
        assert (r.vouchers_issued, r.vouchers_amount_minor, r.reconciled) == (2, 7050, True)
        got = await api.imports.GetImportErrorReport(
            mpb.GetImportErrorReportRequest(name=op.name), metadata=md(tenant)
        )
        lines = list(csv.reader(io.StringIO(got.csv.decode("utf-8").lstrip("\ufeff"))))
        assert [(x[0], x[1], x[3]) for x in lines[1:]] == [
            ("4", "会员卡号", "UNKNOWN_CARD"),
            ("5", "券号", "DUPLICATE_VOUCHER_CODE"),
            ("6", "面额", "AMOUNT_REQUIRED"),
        ]
    member = f"members/{imported_member_id(tenant, 'VC-0001')}"
    listed = await api.wallet.ListVouchers(wpb.ListVouchersRequest(parent=member), metadata=md(tenant))
    assert sorted((v.code, v.amount_off_minor) for v in listed.vouchers) == [
        ("LEG-0001", 5000),
        ("LEG-0002", 2050),
    ]
