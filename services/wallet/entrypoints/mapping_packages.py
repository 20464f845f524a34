"""Proto <-> domain for the package RPCs (grpc_packages.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import ledger_pb2, packages_pb2

from kit.errors import InvalidArgument
from kit.ids import parse_path
from kit.proto import ts
from services.wallet.domain import packages as dp
from services.wallet.domain.packages import ProductItem
from services.wallet.entrypoints.mapping import enum_name, enum_value, tender_of
from services.wallet.service_layer import packages as pk


def package_state_of(value: int) -> str:
    """A PackageState of a request -> the domain's state; "" for UNSPECIFIED or unknown."""
    return enum_name(packages_pb2.PackageState, value)


def product_to_proto(p: pk.PackageProduct, currency: str) -> packages_pb2.PackageProduct:
    return packages_pb2.PackageProduct(
        name=f"packageProducts/{p.product_id}",
        display_name=p.display_name,
        price_minor=p.price_minor,
        items=[
            packages_pb2.PackageItem(
                service=i.service,
                display_name=i.display_name,
                sessions=i.sessions,
                list_price_minor=i.list_price_minor,
                validity_days=i.validity_days,
                validity_months=i.validity_months,
                unlimited=i.unlimited,
                max_uses_per_day=i.max_uses_per_day,
            )
            for i in p.items
        ],
        active=p.active,
        currency_code=currency,
        create_time=ts(p.create_time),
        update_time=ts(p.update_time),
    )


def package_to_proto(pkg: pk.MemberPackage, currency: str) -> packages_pb2.MemberPackage:
    state = dp.effective_state(pkg.state, pkg.frozen_until, datetime.now(UTC))
    return packages_pb2.MemberPackage(
        name=pk.package_name(pkg.member_id, pkg.package_id),
        product=f"packageProducts/{pkg.product_id}",
        display_name=pkg.display_name,
        state=enum_value(packages_pb2.PackageState, state),
        items=[
            packages_pb2.PackageItemBalance(
                service=i.service,
                display_name=i.display_name,
                sessions_total=i.sessions_total,
                sessions_remaining=i.sessions_remaining,
                sessions_held=i.sessions_held,
                expire_time=ts(i.expire_time),
                session_value_minor=i.session_value_minor,
                unlimited=i.unlimited,
                max_uses_per_day=i.max_uses_per_day,
            )
            for i in pkg.items
        ],
        price_minor=pkg.price_minor,
        currency_code=currency,
        store_sold=f"stores/{pkg.store_sold}",
        purchase_time=ts(pkg.purchase_time),
        frozen_until=ts(pkg.frozen_until) if state == dp.FROZEN else None,
        deferred_minor=pkg.deferred_minor,
        transferred_from=pk.package_name(pkg.transferred_from_member, pkg.transferred_from)
        if pkg.transferred_from and pkg.transferred_from_member
        else "",
        sale_transaction=f"members/{pkg.member_id}/transactions/{pkg.sale_transaction_id}",
        update_time=ts(pkg.update_time),
    )


def items_of(items) -> list[ProductItem]:
    return [
        ProductItem(
            i.service,
            i.display_name.strip(),
            i.sessions,
            i.list_price_minor,
            i.validity_days,
            i.validity_months,
            i.unlimited,
            i.max_uses_per_day,
        )
        for i in items
    ]


def package_of(name: str, field: str = "package") -> tuple[str, str]:
    ids = parse_path(name, "members/{uuid}/packages/{uuid}")
    if ids is None:
        raise InvalidArgument(
            [(field, "must be a resource name of the form members/{member}/packages/{package}")]
        )
    return ids[0], ids[1]


def package_tender_of(value: int, field: str) -> str:
    if value == ledger_pb2.TENDER_STORED_VALUE:
        return pk.STORED_VALUE
    return tender_of(value, field)
