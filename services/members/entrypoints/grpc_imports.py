"""gRPC entrypoint of the ImportService (hosted by the members process): uploads in chunks, import
operations (AIP-151) and their error reports. The work itself is done by the import worker
(service_layer/imports.py). Every RPC requires `members.import` before it reads or writes
anything, and every statement is scoped to the caller's tenant."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import datetime, timedelta
from pathlib import PurePath

from google.protobuf.any_pb2 import Any as AnyPb
from google.rpc import code_pb2, error_details_pb2, status_pb2
from peony.members.v1 import imports_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc

from kit import auth
from kit.auth import current_principal
from kit.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from kit.idempotency import Idempotency
from kit.ids import new_id, parse_name
from kit.pagination import PageTokens, page_size
from kit.servicer import ServicerKit
from kit.uow import UnitOfWorkFactory
from services.members.adapters import import_operations as ops
from services.members.adapters.legacy_files.mapping import MappingError, parse_mapping
from services.members.adapters.legacy_files.records import reason_text
from services.members.service_layer.legacy_rows import REPORT_HEADER, SHIPPED_BY_KIND
from services.members.service_layer.unit_of_work import MembersUnitOfWork

MAX_CHUNK_BYTES = 2 * 1024 * 1024
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_FILE_NAME = 200
FILE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")
MAX_REPORT_LINES = 10_000
DEFAULT_RETENTION = timedelta(hours=72)

KINDS = {
    imports_pb2.IMPORT_KIND_STORES: "stores",
    imports_pb2.IMPORT_KIND_MEMBERS: "members",
    imports_pb2.IMPORT_KIND_VOUCHERS: "vouchers",
}
KIND_ENUM = {v: k for k, v in KINDS.items()}
STATES = {
    "pending": imports_pb2.IMPORT_STATE_PENDING,
    "running": imports_pb2.IMPORT_STATE_RUNNING,
    "succeeded": imports_pb2.IMPORT_STATE_SUCCEEDED,
    "failed": imports_pb2.IMPORT_STATE_FAILED,
    "cancelled": imports_pb2.IMPORT_STATE_CANCELLED,
}


def _upload_pb(upload: ops.Upload) -> imports_pb2.ImportUpload:
    out = imports_pb2.ImportUpload(
        name=f"importUploads/{upload.upload_id}",
        file_name=upload.file_name,
        size_bytes=upload.size_bytes,
        received_bytes=upload.received_bytes,
    )
    out.expire_time.FromDatetime(upload.expire_time)
    return out


def _totals(d: dict | None) -> imports_pb2.ImportTotals:
    d = d or {}
    return imports_pb2.ImportTotals(
        principal_minor=d.get("principal_minor", 0),
        bonus_minor=d.get("bonus_minor", 0),
        points=d.get("points", 0),
        sessions=d.get("sessions", 0),
    )


def operation_pb(row) -> imports_pb2.ImportOperation:
    meta = imports_pb2.ImportMetadata(
        kind=KIND_ENUM[row.kind],
        state=STATES[row.state],
        dry_run=row.dry_run,
        upload=f"importUploads/{row.upload_id}",
        rows_total=row.rows_total,
        rows_read=row.rows_read,
        rows_imported=row.rows_imported,
        rows_rejected=row.rows_rejected,
    )
    meta.create_time.FromDatetime(row.create_time)
    meta.update_time.FromDatetime(row.update_time)
    if row.cancel_time is not None:
        meta.cancel_time.FromDatetime(row.cancel_time)
    out = imports_pb2.ImportOperation(
        name=f"operations/{row.operation_id}", metadata=meta, done=row.finish_time is not None
    )
    if row.finish_time is None:
        return out
    if row.state == "succeeded":
        s = row.summary or {}
        out.response.CopyFrom(
            imports_pb2.ImportSummary(
                import_id=s.get("import_id", row.import_id),
                rows_read=s.get("rows_read", 0),
                rows_imported=s.get("rows_imported", 0),
                rows_already_imported=s.get("rows_already_imported", 0),
                rows_rejected=s.get("rows_rejected", 0),
                file_totals=_totals(s.get("file_totals")),
                accepted_totals=_totals(s.get("accepted_totals")),
                ledger_totals=_totals(s.get("ledger_totals")),
                opening_transactions=s.get("opening_transactions", 0),
                unbalanced_transactions=s.get("unbalanced_transactions", 0),
                reconciled=s.get("reconciled", False),
                vouchers_issued=s.get("vouchers_issued", 0),
                vouchers_amount_minor=s.get("vouchers_amount_minor", 0),
            )
        )
        return out
    info = AnyPb()
    info.Pack(error_details_pb2.ErrorInfo(reason=row.error_code or "FAILED", domain="members.peony.dev"))
    if row.state == "cancelled":
        code = code_pb2.CANCELLED
    elif row.error_code == "ATTEMPTS_EXHAUSTED":
        code = code_pb2.UNAVAILABLE  # a dependency kept failing: the same import may be started again
    else:
        code = code_pb2.FAILED_PRECONDITION
    out.error.CopyFrom(status_pb2.Status(code=code, message=row.error_message, details=[info]))
    return out


def _operation_id(name: str, field: str = "name") -> str:
    operation_id = parse_name(name, "operations")
    if not operation_id:
        raise InvalidArgument([(field, "must be a resource name of the form operations/{operation}")])
    return operation_id


def _upload_id(name: str, field: str) -> str:
    upload_id = parse_name(name, "importUploads")
    if not upload_id:
        raise InvalidArgument([(field, "must be a resource name of the form importUploads/{import_upload}")])
    return upload_id


class ImportServicer(ServicerKit[MembersUnitOfWork], pb_grpc.ImportServiceServicer):
    def __init__(
        self,
        uows: UnitOfWorkFactory[MembersUnitOfWork],
        idempotency: Idempotency,
        page_tokens: PageTokens,
        *,
        retention: timedelta = DEFAULT_RETENTION,
    ):
        super().__init__(uows, idempotency, page_tokens)
        self._retention = retention

    async def CreateImportUpload(
        self, request: pb.CreateImportUploadRequest, context
    ) -> pb.CreateImportUploadResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_IMPORT)
        v = Violations()
        name = request.upload.file_name
        if not 1 <= len(name) <= MAX_FILE_NAME or "/" in name or "\\" in name:
            v.add("upload.file_name", f"must be 1 to {MAX_FILE_NAME} characters, without a path")
        elif PurePath(name).suffix.lower() not in FILE_SUFFIXES:
            v.add("upload.file_name", f"must end in one of {', '.join(FILE_SUFFIXES)}")
        if not 1 <= request.upload.size_bytes <= MAX_FILE_BYTES:
            v.add("upload.size_bytes", f"must be within 1..{MAX_FILE_BYTES} (512 MiB)")
        v.raise_if_any()

        async def effect(uow: MembersUnitOfWork) -> pb.CreateImportUploadResponse:
            upload = await ops.create_upload(
                uow.session, caller.tenant, new_id(), name, request.upload.size_bytes, self._retention
            )
            return pb.CreateImportUploadResponse(upload=_upload_pb(upload))

        return await self._mutate("CreateImportUpload", request, pb.CreateImportUploadResponse, effect)

    async def AppendImportChunk(
        self, request: pb.AppendImportChunkRequest, context
    ) -> pb.AppendImportChunkResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_IMPORT)
        v = Violations()
        upload_id = parse_name(request.upload, "importUploads")
        if not upload_id:
            v.add("upload", "must be a resource name of the form importUploads/{import_upload}")
        if request.offset < 0:
            v.add("offset", "must not be negative")
        if not 1 <= len(request.data) <= MAX_CHUNK_BYTES:
            v.add("data", f"must be 1 to {MAX_CHUNK_BYTES} bytes (2 MiB)")
        v.raise_if_any()

        async def append(uow: MembersUnitOfWork) -> pb.AppendImportChunkResponse:
            upload = await ops.get_upload(uow.session, caller.tenant, upload_id, lock=True)
            if upload is None:
                raise NotFound(f"upload {request.upload} not found")
            if request.offset < upload.received_bytes:
                # A retry of a chunk already stored: the same bytes are accepted unchanged.
                stored = await ops.chunk_at(uow.session, caller.tenant, upload_id, request.offset)
                if stored != request.data:
                    raise FailedPrecondition(
                        f"the bytes at offset {request.offset} differ from the chunk stored there",
                        reason="CHUNK_MISMATCH",
                    )
                return pb.AppendImportChunkResponse(upload=_upload_pb(upload))
            if request.offset > upload.received_bytes:
                raise FailedPrecondition(
                    f"offset {request.offset} leaves a gap: the next chunk starts at {upload.received_bytes}",
                    reason="OFFSET_GAP",
                    metadata={"received_bytes": str(upload.received_bytes)},
                )
            if upload.received_bytes + len(request.data) > upload.size_bytes:
                raise InvalidArgument(
                    [("data", f"goes past the declared size of {upload.size_bytes} bytes")],
                    reason="UPLOAD_OVERSIZE",
                )
            upload = await ops.append_chunk(
                uow.session, caller.tenant, upload_id, request.offset, request.data
            )
            return pb.AppendImportChunkResponse(upload=_upload_pb(upload))

        return await self._uows.run(caller.tenant, append)

    async def StartImport(self, request: pb.StartImportRequest, context) -> pb.StartImportResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_IMPORT)
        v = Violations()
        kind = KINDS.get(request.kind)
        if kind is None:
            v.add("kind", "must be IMPORT_KIND_STORES, IMPORT_KIND_MEMBERS or IMPORT_KIND_VOUCHERS")
        upload_id = parse_name(request.upload, "importUploads")
        if not upload_id:
            v.add("upload", "must be a resource name of the form importUploads/{import_upload}")
        if request.mapping and request.mapping_yaml:
            v.add("mapping_yaml", "give a shipped mapping or a mapping's text, not both")
        elif kind and request.mapping and request.mapping not in SHIPPED_BY_KIND[kind]:
            v.add("mapping", f"must be one of {', '.join(SHIPPED_BY_KIND[kind])} for {kind}")
        elif kind and request.mapping_yaml:
            try:
                parse_mapping(request.mapping_yaml, kind)
            except MappingError as exc:
                v.add("mapping_yaml", str(exc).replace("(inline): ", "")[:500])
        if request.encoding:
            try:
                if len(request.encoding) > 40:
                    raise LookupError
                codecs.lookup(request.encoding)
            except LookupError:
                v.add("encoding", "must be a known text encoding, e.g. utf-8 or gb18030")
        v.raise_if_any()

        async def effect(uow: MembersUnitOfWork) -> pb.StartImportResponse:
            upload = await ops.get_upload(uow.session, caller.tenant, upload_id)
            if upload is None:
                raise NotFound(f"upload {request.upload} not found")
            if upload.received_bytes != upload.size_bytes:
                raise FailedPrecondition(
                    f"the upload holds {upload.received_bytes} of {upload.size_bytes} bytes",
                    reason="UPLOAD_INCOMPLETE",
                )
            row = await ops.create_operation(
                uow.session,
                caller.tenant,
                new_id(),
                kind=kind,
                upload_id=upload_id,
                mapping=request.mapping,
                mapping_yaml=request.mapping_yaml,
                encoding=request.encoding,
                dry_run=request.dry_run,
            )
            return pb.StartImportResponse(operation=operation_pb(row))

        return await self._mutate("StartImport", request, pb.StartImportResponse, effect)

    async def GetOperation(self, request: pb.GetOperationRequest, context) -> pb.GetOperationResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_IMPORT)
        operation_id = _operation_id(request.name)

        async def read(uow: MembersUnitOfWork):
            return await ops.get_operation(uow.session, caller.tenant, operation_id)

        row = await self._read(read)
        if row is None:
            raise NotFound(f"operation {request.name} not found")
        return pb.GetOperationResponse(operation=operation_pb(row))

    async def ListOperations(self, request: pb.ListOperationsRequest, context) -> pb.ListOperationsResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_IMPORT)
        binding = f"{caller.tenant}|operations"
        size = page_size(request.page_size)
        cursor = self._tokens.decode(request.page_token, binding=binding)
        after = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor else None

        async def read(uow: MembersUnitOfWork):
            return await ops.list_operations(uow.session, caller.tenant, limit=size, after=after)

        rows = await self._read(read)
        token = ""
        if len(rows) == size:
            token = self._tokens.encode(
                {"t": rows[-1].create_time.isoformat(), "id": rows[-1].operation_id}, binding=binding
            )
        return pb.ListOperationsResponse(operations=[operation_pb(r) for r in rows], next_page_token=token)

    async def CancelOperation(
        self, request: pb.CancelOperationRequest, context
    ) -> pb.CancelOperationResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_IMPORT)
        operation_id = _operation_id(request.name)

        async def cancel(uow: MembersUnitOfWork):
            if await ops.get_operation(uow.session, caller.tenant, operation_id) is None:
                raise NotFound(f"operation {request.name} not found")
            return await ops.request_cancel(uow.session, caller.tenant, operation_id)

        row = await self._uows.run(caller.tenant, cancel)
        return pb.CancelOperationResponse(operation=operation_pb(row))

    async def GetImportErrorReport(
        self, request: pb.GetImportErrorReportRequest, context
    ) -> pb.GetImportErrorReportResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_IMPORT)
        operation_id = _operation_id(request.name)
        if request.page_size < 0:
            raise InvalidArgument([("page_size", "must not be negative")])
        size = min(request.page_size or MAX_REPORT_LINES, MAX_REPORT_LINES)
        binding = f"{caller.tenant}|operations/{operation_id}|errors"
        cursor = self._tokens.decode(request.page_token, binding=binding)
        after = tuple(cursor["after"]) if cursor else None

        async def read(uow: MembersUnitOfWork):
            row = await ops.get_operation(uow.session, caller.tenant, operation_id)
            if row is None:
                return None, []
            return row, await ops.error_rows(
                uow.session, caller.tenant, operation_id, limit=size, after=after
            )

        op, lines = await self._read(read)
        if op is None:
            raise NotFound(f"operation {request.name} not found")
        out = io.StringIO()
        writer = csv.writer(out)
        if after is None:
            out.write("\ufeff")  # Excel opens a BOM'd UTF-8 CSV right (as the CLI's report)
            writer.writerow(REPORT_HEADER[op.language])
        for line in lines:
            writer.writerow(
                [line.row_number, line.column_name, reason_text(line.code, op.language), line.code]
            )
        token = ""
        if len(lines) == size:
            last = lines[-1]
            token = self._tokens.encode(
                {"after": [last.row_number, last.column_name, last.code]}, binding=binding
            )
        return pb.GetImportErrorReportResponse(
            csv=out.getvalue().encode("utf-8"), lines=len(lines), next_page_token=token
        )
