"""WalletService's internal `ApplyImportBatch`: the members service's import worker (the
ImportService) writes each batch's opening balances or legacy vouchers through the wallet's own
import adapter (service_layer/imports.py over adapters/legacy_import.py, as `peony import`
does), exactly once by (import id, row). A mixin of WalletServicer (grpc_servicer.py), which
supplies `_engine`.

Only the members service's identity holds `wallet.import.apply` (role `importer`, kit/auth.py).
The members it names were just written by members' importer, which emits no `MemberRegistered`
for them (no welcome message to existing customers), so they are not in the wallet's projection:
the names are checked for shape, the caller is trusted for their existence.
"""

from __future__ import annotations

from datetime import UTC

from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import Violations
from kit.ids import is_resource_id, parse_name
from services.wallet.service_layer.imports import ImportedVoucher, OpeningBalance, OpeningItem, apply_batch

MAX_AMOUNT = 10**12
MAX_ROW = 100_000_000
MAX_SESSIONS = 100_000


def _time(ts, present: bool):
    return ts.ToDatetime(tzinfo=UTC) if present else None


class ImportsRpc:
    async def ApplyImportBatch(
        self, request: pb.ApplyImportBatchRequest, context
    ) -> pb.ApplyImportBatchResponse:
        caller = current_principal()
        caller.require(auth.WALLET_IMPORT_APPLY)  # authorization before anything else
        v = Violations()
        if not is_resource_id(request.import_id):
            v.add("import_id", "must be 1-63 characters of a-z, 0-9 and '-'")
        if request.openings and request.vouchers:
            v.add("vouchers", "a batch holds openings or vouchers, not both")
        if request.openings and request.dry_run:
            v.add("dry_run", "openings are not sent on a dry run")
        openings: list[OpeningBalance] = []
        for i, o in enumerate(request.openings):
            at = f"openings[{i}]"
            member_id = parse_name(o.member, "members", uuid=True)
            store_id = parse_name(o.store, "stores")
            if not 2 <= o.row <= MAX_ROW:
                v.add(f"{at}.row", f"must be within 2..{MAX_ROW}")
            if member_id is None:
                v.add(f"{at}.member", "must be a resource name of the form members/{member}")
            if not store_id:
                v.add(f"{at}.store", "must be a resource name of the form stores/{store}")
            for f in ("principal_minor", "bonus_minor", "points"):
                if not 0 <= getattr(o, f) <= MAX_AMOUNT:
                    v.add(f"{at}.{f}", f"must be within 0..{MAX_AMOUNT}")
            items = []
            for j, it in enumerate(o.items):
                if not it.service.startswith("services/") or len(it.service) > 200:
                    v.add(
                        f"{at}.items[{j}].service", "must be a resource name of the form services/{service}"
                    )
                if not 1 <= it.sessions <= MAX_SESSIONS:
                    v.add(f"{at}.items[{j}].sessions", f"must be within 1..{MAX_SESSIONS}")
                items.append(
                    OpeningItem(
                        it.service,
                        it.display_name,
                        it.sessions,
                        _time(it.expire_time, it.HasField("expire_time")),
                    )
                )
            openings.append(
                OpeningBalance(
                    row=o.row,
                    member_id=member_id or "",
                    store_id=store_id or "",
                    principal_minor=o.principal_minor,
                    bonus_minor=o.bonus_minor,
                    points=o.points,
                    points_expire_time=_time(o.points_expire_time, o.HasField("points_expire_time")),
                    items=tuple(items),
                )
            )
        vouchers: list[ImportedVoucher] = []
        for i, w in enumerate(request.vouchers):
            at = f"vouchers[{i}]"
            member_id = parse_name(w.member, "members", uuid=True)
            if not 2 <= w.row <= MAX_ROW:
                v.add(f"{at}.row", f"must be within 2..{MAX_ROW}")
            if member_id is None:
                v.add(f"{at}.member", "must be a resource name of the form members/{member}")
            if not 1 <= len(w.code) <= 64:
                v.add(f"{at}.code", "must be 1 to 64 characters")
            if not 1 <= w.amount_off_minor <= MAX_AMOUNT:
                v.add(f"{at}.amount_off_minor", f"must be within 1..{MAX_AMOUNT}")
            if not 0 <= w.min_spend_minor <= MAX_AMOUNT:
                v.add(f"{at}.min_spend_minor", f"must be within 0..{MAX_AMOUNT}")
            vouchers.append(
                ImportedVoucher(
                    w.row,
                    member_id or "",
                    w.code,
                    w.display_name,
                    w.amount_off_minor,
                    w.min_spend_minor,
                    _time(w.valid_until, w.HasField("valid_until")),
                )
            )
        rows = [o.row for o in openings] or [w.row for w in vouchers]
        if len(set(rows)) != len(rows):
            v.add("openings" if openings else "vouchers", "a row appears twice")
        v.raise_if_any()

        result = await apply_batch(
            self._engine,  # type: ignore[attr-defined]
            caller.tenant,
            request.import_id,
            openings,
            vouchers,
            dry_run=request.dry_run,
            reconcile=request.reconcile,
        )
        response = pb.ApplyImportBatchResponse(
            openings_written=result.openings_written, rejected_voucher_rows=result.rejected_voucher_rows
        )
        if result.ledger is not None:
            for key, value in result.ledger.items():
                setattr(response, key, value)
        if result.vouchers is not None:
            response.vouchers_issued = result.vouchers["vouchers"]
            response.vouchers_amount_minor = result.vouchers["amount_minor"]
        return response
