"""The ImportService's worker: runs import operations inside the members service, durably.

Each replica ticks; a tick claims one operation (``FOR UPDATE SKIP LOCKED``: pending, or running
under an expired lease — its worker was killed) and runs it under a lease it renews every third
of its length. A worker that loses its lease stops before its next write.

Running an operation is what ``peony import`` does, with the same code (adapters/legacy_files:
reading, mapping, parsing; service_layer/legacy_rows: checking; each service's import adapter):

1. the upload is copied from PostgreSQL, chunk by chunk, to a scratch file (XLSX needs random
   access), deleted when the run ends; memory holds one chunk and one batch;
2. the file is read as a stream, a batch at a time; members' rows go through members' import
   adapter on this database, the wallet's opening balances through the wallet's internal
   ``ApplyImportBatch`` (the wallet writes its own database), both exactly once by (import id, row);
3. each batch's progress (rows read, imported, rejected, the running sums, its error rows) is
   committed with the batch; ``rows_read`` is the checkpoint a resumed run skips to;
4. at the end the ledger is reconciled through the wallet, the summary stored, and the upload
   deleted (a dry run keeps it, to be imported for real).

A cancellation is honoured between batches. A dry run checks duplicates across batches in a
temporary table of its connection, so a resumed dry run starts over.

Failures: a permanent one (the file unreadable, the mapping not fitting it, the wallet refusing a
batch) ends the operation at once. A transient one (the wallet or the database unavailable, a
defect) is retried from the checkpoint after a backoff (``retry_backoff_s``, doubling, at most
``MAX_BACKOFF_S``); after ``max_attempts`` claims without a committed batch — failed attempts or
workers killed mid-run — the operation ends ``ATTEMPTS_EXHAUSTED`` with the last error's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from peony.wallet.v1 import wallet_service_pb2 as wpb
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.auth import ROLE_PERMISSIONS, Principal
from kit.crypto import PiiCipher
from kit.grpc_client import error_reason
from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.members.adapters import import_operations as ops
from services.members.adapters.legacy_files import readers
from services.members.adapters.legacy_files.mapping import MappingError, parse_mapping
from services.members.adapters.legacy_files.records import RowError
from services.members.adapters.legacy_import import BatchConflict, MemberImporter
from services.members.adapters.wallet_client import IMPORT_RETRYABLE, WalletClient
from services.members.service_layer.legacy_rows import (
    SUMS,
    Tally,
    accept_outcomes,
    batches,
    check_member_rows,
    import_id_of,
    import_store_row,
    imported_member,
    known_voucher_rows,
    resolve_mapping,
)
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.imports")

BATCH_ROWS = 500
DEFAULT_LEASE_S = 30.0
PURGE_EVERY_S = 60.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_BACKOFF_S = 10.0
MAX_BACKOFF_S = 600.0
# A wallet answer that another attempt would not change (its refusal of the batch as sent).
_WALLET_PERMANENT = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.UNIMPLEMENTED,
}


class LeaseLost(Exception):
    """Another worker took the operation over (this one was too slow to renew its lease)."""


class Cancelled(Exception):
    """CancelOperation was called: stop after the current batch."""


class OperationFailed(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def classify_failure(exc: BaseException) -> tuple[str, str, bool]:
    """(reason code, message, permanent) of an attempt's failure. The message names the kind of
    failure only — never an exception's text, which may quote a row (personal data)."""
    if isinstance(exc, grpc.aio.AioRpcError):
        code = exc.code()
        reason = error_reason(exc)
        detail = f"{code.name}{' ' + reason if reason else ''}"
        if code in _WALLET_PERMANENT:
            return "WALLET_REFUSED", f"the wallet refused a batch: {detail}", True
        if code in IMPORT_RETRYABLE:
            return "WALLET_UNAVAILABLE", f"the wallet could not be reached: {detail}", False
        return "WALLET_FAILED", f"the wallet failed a batch: {detail}", False
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return "DATABASE_UNAVAILABLE", f"the members database failed: {type(exc).__name__}", False
    return "INTERNAL_ERROR", f"the import worker failed: {type(exc).__name__}", False


def retry_backoff(base_s: float, attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: base, doubling, capped."""
    return timedelta(seconds=min(MAX_BACKOFF_S, base_s * 2 ** max(0, attempts - 1)))


class _Errors:
    """A batch's error rows (legacy_rows.RowReport), committed with its progress."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str]] = []

    def add(self, e: RowError) -> None:
        self.rows.append((e.row, e.column, e.code))


class ImportWorker(PeriodicWorker):
    name = "import-operations"

    def __init__(
        self,
        engine: AsyncEngine,
        uows: UnitOfWorkFactory[MembersUnitOfWork],
        cipher: PiiCipher,
        wallet: WalletClient,
        *,
        interval_s: float = 1.0,
        lease_s: float = DEFAULT_LEASE_S,
        batch_rows: int = BATCH_ROWS,
        scratch_dir: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_backoff_s: float = DEFAULT_RETRY_BACKOFF_S,
    ):
        super().__init__(interval_s=interval_s)
        self._engine = engine
        self._uows = uows
        self._cipher = cipher
        self._wallet = wallet
        self._lease = timedelta(seconds=lease_s)
        self._batch_rows = batch_rows
        self._scratch_dir = scratch_dir
        self._max_attempts = max(1, max_attempts)
        self._retry_backoff_s = max(0.0, retry_backoff_s)
        self._owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._purged_at = -math.inf

    async def stop(self) -> None:
        await super().stop()
        await self._wallet.close()

    async def tick(self) -> int:
        await self._purge()
        ran = 0
        while True:
            async with self._engine.begin() as conn:
                op = await ops.claim(conn, self._owner, self._lease)
            if op is None:
                return ran
            await self._run_leased(op)
            ran += 1

    async def _purge(self) -> None:
        """Uploads past their retention, at most once a minute per replica."""
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY_S:
            return
        self._purged_at = now
        try:
            async with self._engine.begin() as conn:
                await ops.purge_expired_uploads(conn)
        except Exception:
            log.exception("purging expired import uploads failed; will retry")

    async def _run_leased(self, op) -> None:
        tenant, operation_id = op.tenant_id, op.operation_id
        run = asyncio.create_task(self._run(op), name=f"import {operation_id}")
        try:
            while not run.done():
                await asyncio.wait({run}, timeout=self._lease.total_seconds() / 3)
                if run.done():
                    break
                async with self._engine.begin() as conn:
                    held = await ops.renew_lease(conn, tenant, operation_id, self._owner, self._lease)
                if held is None:
                    log.warning("import lease lost; stopping", tenant=tenant, operation=operation_id)
                    run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        except asyncio.CancelledError:
            # The process is stopping: stop the run, and hand the operation over at once rather
            # than when the lease runs out (what is committed is its checkpoint).
            run.cancel()
            with contextlib.suppress(BaseException):
                await run
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5), self._engine.begin() as conn:
                    await ops.release_lease(conn, tenant, operation_id, self._owner)
            raise

    async def _finish(
        self, tenant: str, operation_id: str, *, delete_upload: str | None = None, **values
    ) -> None:
        """Records the end; with ``delete_upload`` the upload goes in the same transaction, so no
        reader sees the operation done while its upload still exists."""
        async with self._engine.begin() as conn:
            await ops.save_progress(conn, tenant, operation_id, self._owner, [], **values)
            if delete_upload is not None:
                await ops.delete_upload(conn, tenant, delete_upload)

    async def _run(self, op) -> None:
        tenant, operation_id = op.tenant_id, op.operation_id
        scratch: Path | None = None
        try:
            if op.cancel_time is not None:
                raise Cancelled()
            if op.attempts > self._max_attempts:
                # The previous attempts died with their worker (killed, out of memory) or their
                # failure could not be recorded: this claim is one too many.
                raise OperationFailed(
                    "ATTEMPTS_EXHAUSTED",
                    f"stopped after {self._max_attempts} attempts without progress; "
                    f"last error: {op.error_code or 'WORKER_LOST'}",
                )
            upload = None
            async with self._engine.connect() as conn:
                upload = await ops.get_upload(conn, tenant, op.upload_id)
            if upload is None or upload.received_bytes != upload.size_bytes:
                raise OperationFailed("UPLOAD_GONE", "the upload was deleted (retention) or is incomplete")
            scratch = await self._spool(tenant, upload)
            # Hashing and counting read the whole file: off the event loop (members serves RPCs).
            import_id = op.import_id or await asyncio.to_thread(import_id_of, scratch, tenant, op.kind)
            try:
                header, rows = readers.open_rows(scratch, encoding=op.encoding or None)
                if op.mapping_yaml:
                    mapping = parse_mapping(op.mapping_yaml, op.kind).fitted(header)
                else:
                    mapping = resolve_mapping(op.mapping or None, op.kind, header)
                total = op.rows_total or await asyncio.to_thread(
                    readers.count_rows, scratch, encoding=op.encoding or None
                )
            except readers.ReadError as exc:
                raise OperationFailed("FILE_UNREADABLE", str(exc)) from None
            except MappingError as exc:
                raise OperationFailed("MAPPING_DOES_NOT_FIT", str(exc)) from None
            resume = op.rows_read if not op.dry_run else 0
            tally = Tally(
                read=resume,
                imported=op.rows_imported if resume else 0,
                already=op.rows_already if resume else 0,
                rejected=op.rows_rejected if resume else 0,
            )
            if resume:
                tally.file_totals.update(op.tally.get("file", {}))
                tally.accepted_totals.update(op.tally.get("accepted", {}))
            async with self._engine.begin() as conn:
                if not resume:
                    await ops.clear_errors(conn, tenant, operation_id)
                await ops.save_progress(
                    conn,
                    tenant,
                    operation_id,
                    self._owner,
                    [],
                    import_id=import_id,
                    rows_total=total,
                    language=mapping.language,
                    rows_read=tally.read,
                    rows_imported=tally.imported,
                    rows_already=tally.already,
                    rows_rejected=tally.rejected,
                )
            try:
                body = _skip(rows, resume)
                run_kind = {"members": self._members, "stores": self._stores, "vouchers": self._vouchers}[
                    op.kind
                ]
                summary = await run_kind(op, tenant, import_id, mapping, body, tally)
            except readers.ReadError as exc:
                raise OperationFailed("FILE_UNREADABLE", f"{exc} (rows before it are imported)") from None
            summary.update(
                import_id=import_id,
                rows_read=tally.read,
                rows_imported=tally.imported,
                rows_already_imported=tally.already,
                rows_rejected=tally.rejected,
            )
            reconciled = summary.get("reconciled", True)
            await self._finish(
                tenant,
                operation_id,
                state="succeeded" if reconciled else "failed",
                summary=summary,
                error_code="" if reconciled else "NOT_RECONCILED",
                error_message="" if reconciled else "the ledger does not equal the accepted rows",
                finish_time=_now(),
                delete_upload=op.upload_id if not op.dry_run and reconciled else None,
            )
            log.info("import finished", tenant=tenant, operation=operation_id, rows=tally.read)
        except Cancelled:
            await self._finish(
                tenant,
                operation_id,
                state="cancelled",
                error_code="CANCELLED",
                error_message="cancelled",
                finish_time=_now(),
            )
        except OperationFailed as exc:
            await self._finish(
                tenant,
                operation_id,
                state="failed",
                error_code=exc.code,
                error_message=str(exc)[:1000],
                finish_time=_now(),
            )
        except LeaseLost:
            log.warning("import lease lost", tenant=tenant, operation=operation_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed_attempt(tenant, operation_id, exc)
        finally:
            if scratch is not None:
                with contextlib.suppress(OSError):
                    scratch.unlink()

    async def _failed_attempt(self, tenant: str, operation_id: str, exc: Exception) -> None:
        """A permanent failure ends the operation; a transient one is retried from the checkpoint
        after a backoff, until ``max_attempts`` attempts in a row made no progress."""
        reason, message, permanent = classify_failure(exc)
        log.warning(
            "import attempt failed",
            tenant=tenant,
            operation=operation_id,
            reason=reason,
            error=type(exc).__name__,
            permanent=permanent,
        )
        try:
            async with self._engine.connect() as conn:
                current = await ops.get_operation(conn, tenant, operation_id)
            attempts = current.attempts if current is not None else self._max_attempts
            if permanent:
                await self._finish(
                    tenant, operation_id, state="failed", error_code=reason, error_message=message,
                    finish_time=_now(),
                )  # fmt: skip
            elif attempts >= self._max_attempts:
                await self._finish(
                    tenant,
                    operation_id,
                    state="failed",
                    error_code="ATTEMPTS_EXHAUSTED",
                    error_message=f"stopped after {attempts} attempts without progress; last error: "
                    f"{reason}: {message}"[:1000],
                    finish_time=_now(),
                )
            else:
                async with self._engine.begin() as conn:
                    await ops.retry_later(
                        conn,
                        tenant,
                        operation_id,
                        self._owner,
                        retry_backoff(self._retry_backoff_s, attempts),
                        reason,
                        message,
                    )
        except Exception:
            # Not even the failure could be recorded: the lease runs out, a worker claims the
            # operation again, and the claim counts as an attempt.
            log.exception("recording a failed import attempt failed", tenant=tenant, operation=operation_id)

    async def _spool(self, tenant: str, upload: ops.Upload) -> Path:
        suffix = Path(upload.file_name).suffix.lower() or ".csv"
        fd, name = tempfile.mkstemp(prefix="peony-import-", suffix=suffix, dir=self._scratch_dir)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in ops.stream_chunks(self._engine, tenant, upload.upload_id):
                    await asyncio.to_thread(f.write, chunk)
        except BaseException:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        return path

    async def _checkpoint(self, op, tally: Tally, errors: _Errors) -> None:
        """Commits one batch's progress; raises Cancelled when a cancellation was requested."""
        async with self._engine.begin() as conn:
            saved = await ops.save_progress(
                conn,
                op.tenant_id,
                op.operation_id,
                self._owner,
                errors.rows,
                rows_read=tally.read,
                rows_imported=tally.imported,
                rows_already=tally.already,
                rows_rejected=tally.rejected,
                tally={"file": tally.file_totals, "accepted": tally.accepted_totals},
                attempts=1,  # a committed batch is progress: the count of failures in a row restarts
            )
            if not saved:
                raise LeaseLost()
            current = await ops.get_operation(conn, op.tenant_id, op.operation_id)
        errors.rows.clear()
        if current.cancel_time is not None:
            raise Cancelled()

    async def _members(self, op, tenant, import_id, mapping, body, tally: Tally) -> dict:
        members = MemberImporter(self._engine, tenant, self._cipher)
        stores = await members.stores()
        tier_ids, entry_tier = await members.tiers()
        errors = _Errors()
        async with self._engine.connect() as mconn:
            if op.dry_run:
                await members.prepare_dry_run(mconn)
            for batch in batches(body, self._batch_rows):
                valid = check_member_rows(batch, mapping, stores, tier_ids, tally, errors)
                by_row = {r.row: r for r in valid}
                imported = [imported_member(r, stores) for r in valid]
                for attempt in range(8):
                    try:
                        outcomes = await members.apply(
                            mconn, import_id, imported, entry_tier=entry_tier, dry_run=op.dry_run
                        )
                        break
                    except BatchConflict:
                        if attempt == 7:
                            raise
                        await asyncio.sleep(0.05 * (attempt + 1))
                openings = accept_outcomes(outcomes, by_row, stores, mapping, tally, errors)
                if openings and not op.dry_run:
                    request = WalletClient.openings_request(import_id, openings)
                    await self._wallet.apply_import_batch(tenant, request)
                await self._checkpoint(op, tally, errors)
        summary = {
            "file_totals": tally.file_totals,
            "accepted_totals": tally.accepted_totals,
            "reconciled": True,
        }
        if not op.dry_run:
            ledger = await self._wallet.apply_import_batch(
                tenant, wpb.ApplyImportBatchRequest(import_id=import_id, reconcile=True)
            )
            summary["ledger_totals"] = {k: getattr(ledger, k) for k in SUMS}
            summary["opening_transactions"] = ledger.opening_transactions
            summary["unbalanced_transactions"] = ledger.unbalanced_transactions
            a = tally.accepted_totals
            summary["reconciled"] = (
                summary["ledger_totals"] == a
                and ledger.unbalanced_transactions == 0
                and ledger.opening_money_debit == a["principal_minor"] + a["bonus_minor"]
                and ledger.opening_points_debit == a["points"]
                and ledger.opening_sessions_debit == a["sessions"]
            )
        return summary

    async def _stores(self, op, tenant, import_id, mapping, body, tally: Tally) -> dict:
        caller = Principal(
            tenant=tenant,
            subject=f"operations/{op.operation_id}",
            roles=frozenset({"hq_admin"}),
            permissions=frozenset(ROLE_PERMISSIONS["hq_admin"]),
            stores=None,
            expires_at=math.inf,
        )
        errors = _Errors()
        for batch in batches(body, self._batch_rows):
            for number, cells in batch:
                tally.read += 1
                outcome = await import_store_row(
                    self._uows, caller, tenant, number, cells, mapping, op.dry_run
                )
                if isinstance(outcome, list):
                    tally.rejected += 1
                    for e in outcome:
                        errors.add(e)
                else:
                    tally.imported += 1
                    tally.already += outcome is None
            await self._checkpoint(op, tally, errors)
        return {"reconciled": True}

    async def _vouchers(self, op, tenant, import_id, mapping, body, tally: Tally) -> dict:
        members = MemberImporter(self._engine, tenant, self._cipher)
        errors = _Errors()
        accepted = dict(tally.accepted_totals)  # principal_minor carries Σ amount off, sessions the count
        for batch in batches(body, self._batch_rows):
            known, owners = await known_voucher_rows(batch, mapping, members, tally, errors)
            rejected: set[int] = set()
            if known:
                vouchers = [(v, owners[v.card_number]) for v in known]
                answer = await self._wallet.apply_import_batch(
                    tenant, WalletClient.vouchers_request(import_id, vouchers, dry_run=op.dry_run)
                )
                rejected = set(answer.rejected_voucher_rows)
            for v in known:
                if v.row in rejected:
                    tally.rejected += 1
                    errors.add(RowError(v.row, mapping.columns["code"], "DUPLICATE_VOUCHER_CODE"))
                else:
                    tally.imported += 1
                    accepted["principal_minor"] += v.amount_minor
                    accepted["sessions"] += 1
            tally.accepted_totals = accepted
            await self._checkpoint(op, tally, errors)
        summary: dict = {"reconciled": True}
        if not op.dry_run:
            issued = await self._wallet.apply_import_batch(
                tenant, wpb.ApplyImportBatchRequest(import_id=import_id, reconcile=True)
            )
            summary["vouchers_issued"] = issued.vouchers_issued
            summary["vouchers_amount_minor"] = issued.vouchers_amount_minor
            summary["reconciled"] = (
                issued.vouchers_issued == accepted["sessions"]
                and issued.vouchers_amount_minor == accepted["principal_minor"]
            )
        return summary


def _now() -> datetime:
    return datetime.now(UTC)


def _skip(rows, done: int):
    """The data rows after the first ``done`` (the checkpoint of a resumed run), still streaming."""
    for i, item in enumerate(rows):
        if i >= done:
            yield item
