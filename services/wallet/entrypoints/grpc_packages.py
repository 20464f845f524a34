"""WalletService RPCs for packages: a mixin of WalletServicer (see grpc_servicer.py for the helpers
it relies on: self._mutate, self._read, self._check_pin, self._tokens).

Helpers of grpc_servicer.py are imported inside the methods: that module imports this one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import ledger_pb2, packages_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from kit.ids import is_resource_id, new_id, parse_name, parse_path
from kit.pagination import page_size
from kit.proto import ts
from services.wallet.adapters.package_repository import MemberPackage, PackageProduct
from services.wallet.domain import packages as dp
from services.wallet.domain.packages import ProductItem
from services.wallet.service_layer import packages as pk

_STATE = {
    dp.ACTIVE: packages_pb2.PACKAGE_STATE_ACTIVE,
    dp.FROZEN: packages_pb2.PACKAGE_STATE_FROZEN,
    dp.REFUNDED: packages_pb2.PACKAGE_STATE_REFUNDED,
    dp.EXHAUSTED: packages_pb2.PACKAGE_STATE_EXHAUSTED,
}
_STATE_BACK = {v: k for k, v in _STATE.items()}
_PRODUCT_FIELDS = ("display_name", "price_minor", "items", "active")


def product_to_proto(p: PackageProduct, currency: str) -> packages_pb2.PackageProduct:
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
            )
            for i in p.items
        ],
        active=p.active,
        currency_code=currency,
        create_time=ts(p.create_time),
        update_time=ts(p.update_time),
    )


def package_to_proto(pkg: MemberPackage, currency: str) -> packages_pb2.MemberPackage:
    state = dp.effective_state(pkg.state, pkg.frozen_until, datetime.now(UTC))
    return packages_pb2.MemberPackage(
        name=pk.package_name(pkg.member_id, pkg.package_id),
        product=f"packageProducts/{pkg.product_id}",
        display_name=pkg.display_name,
        state=_STATE[state],
        items=[
            packages_pb2.PackageItemBalance(
                service=i.service,
                display_name=i.display_name,
                sessions_total=i.sessions_total,
                sessions_remaining=i.sessions_remaining,
                sessions_held=i.sessions_held,
                expire_time=ts(i.expire_time),
                session_value_minor=i.session_value_minor,
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


def _items_of(items) -> list[ProductItem]:
    return [
        ProductItem(i.service, i.display_name.strip(), i.sessions, i.list_price_minor, i.validity_days)
        for i in items
    ]


def _package_of(name: str, field: str = "package") -> tuple[str, str]:
    ids = parse_path(name, "members/{uuid}/packages/{uuid}")
    if ids is None:
        raise InvalidArgument(
            [(field, "must be a resource name of the form members/{member}/packages/{package}")]
        )
    return ids[0], ids[1]


def _tender_name(value: int, field: str) -> str:
    from services.wallet.entrypoints.grpc_servicer import tender_of

    if value == ledger_pb2.TENDER_STORED_VALUE:
        return pk.STORED_VALUE
    return tender_of(value, field)


class PackagesRpc:
    # --- products -----------------------------------------------------------------------------
    async def CreatePackageProduct(self, request, context) -> pb.CreatePackageProductResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        p = request.package_product
        v = Violations()
        if request.package_product_id and not is_resource_id(request.package_product_id):
            v.add("package_product_id", "must match [a-z0-9][a-z0-9-]{0,62}")
        items = _items_of(p.items)
        dp.validate_product(v, "package_product", p.display_name, p.price_minor, items)
        v.raise_if_any()
        product = PackageProduct(
            product_id=request.package_product_id or new_id(),
            display_name=p.display_name.strip(),
            price_minor=p.price_minor,
            items=items,
        )

        async def effect(uow) -> pb.CreatePackageProductResponse:
            created = await pk.create_product(uow, caller, product, p.currency_code)
            currency = (await uow.settings.get()).currency_code
            return pb.CreatePackageProductResponse(package_product=product_to_proto(created, currency))

        return await self._mutate("CreatePackageProduct", request, pb.CreatePackageProductResponse, effect)

    async def ListPackageProducts(self, request, context) -> pb.ListPackageProductsResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        binding = f"{caller.tenant}|packageProducts|{request.show_inactive}"
        size = page_size(request.page_size)
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")

        async def read(uow) -> pb.ListPackageProductsResponse:
            currency = (await uow.settings.get()).currency_code
            products = await pk.repo(uow).list_products(
                limit=size, after=after, show_inactive=request.show_inactive
            )
            token = (
                self._tokens.encode({"after": products[-1].product_id}, binding=binding)
                if len(products) == size
                else ""
            )
            return pb.ListPackageProductsResponse(
                package_products=[product_to_proto(p, currency) for p in products], next_page_token=token
            )

        return await self._read(read)

    async def UpdatePackageProduct(self, request, context) -> pb.UpdatePackageProductResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        p = request.package_product
        product_id = parse_name(p.name, "packageProducts")
        if product_id is None:
            raise InvalidArgument([("package_product.name", "must be packageProducts/{product}")])
        paths = list(request.update_mask.paths) or [
            f.name for f, _ in p.ListFields() if f.name in _PRODUCT_FIELDS
        ]
        bad = [path for path in paths if path not in _PRODUCT_FIELDS]
        if bad or not paths:
            raise InvalidArgument(
                [("update_mask", f"{path!r} is not a field you can update") for path in bad]
                or [("update_mask", "name at least one field to update")]
            )
        changes: dict = {}
        for path in paths:
            if path == "items":
                changes["items"] = _items_of(p.items)
            elif path == "display_name":
                changes["display_name"] = p.display_name.strip()
            else:
                changes[path] = getattr(p, path)

        async def effect(uow) -> pb.UpdatePackageProductResponse:
            updated = await pk.update_product(uow, caller, product_id, changes)
            currency = (await uow.settings.get()).currency_code
            return pb.UpdatePackageProductResponse(package_product=product_to_proto(updated, currency))

        return await self._mutate("UpdatePackageProduct", request, pb.UpdatePackageProductResponse, effect)

    # --- cards --------------------------------------------------------------------------------
    async def SellPackage(self, request, context) -> pb.SellPackageResponse:
        from services.wallet.entrypoints.grpc_servicer import (
            member_id_of,
            store_id_of,
            transaction_to_proto,
            wallet_to_proto,
        )
        from services.wallet.service_layer import stored_value as sv

        member_id = member_id_of(request.member, "member")
        store_id = store_id_of(request.store)
        product_id = parse_name(request.product, "packageProducts")
        if product_id is None:
            raise InvalidArgument([("product", "must be packageProducts/{product}")])
        tenders = [
            (_tender_name(t.tender, f"tenders[{i}].tender"), t.amount_minor)
            for i, t in enumerate(request.tenders)
        ]
        pk.validate_sold_by(request.sold_by)  # before the PIN: a bad request counts no attempt
        caller = current_principal()
        caller.require(auth.WALLET_WRITE)
        if any(t == pk.STORED_VALUE for t, _ in tenders):
            await self._check_pin(member_id, request.payment_pin, store_id=store_id)

        async def effect(uow) -> pb.SellPackageResponse:
            result = await pk.sell(
                uow,
                caller,
                member_id=member_id,
                product_id=product_id,
                store_id=store_id,
                tenders=tenders,
                sold_by=request.sold_by,
            )
            currency = (await uow.settings.get()).currency_code
            return pb.SellPackageResponse(
                member_package=package_to_proto(result.package, currency),
                transaction=transaction_to_proto(result.transaction, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("SellPackage", request, pb.SellPackageResponse, effect)

    async def ListMemberPackages(self, request, context) -> pb.ListMemberPackagesResponse:
        from services.wallet.entrypoints.grpc_servicer import member_id_of

        member_id = member_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")
        bad = [s for s in request.states if s not in _STATE_BACK]
        if bad:
            raise InvalidArgument([("states", "each must be a known package state")])
        states = sorted({_STATE_BACK[s] for s in request.states})
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|memberPackages|{member_id}|{','.join(states)}"
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")

        async def read(uow) -> pb.ListMemberPackagesResponse:
            await uow.members.require(member_id)
            currency = (await uow.settings.get()).currency_code
            # Filter on the effective state (a freeze past its `frozen_until` is active).
            now = datetime.now(UTC)
            query_states = [*states, dp.FROZEN] if dp.ACTIVE in states and dp.FROZEN not in states else states
            cards = await pk.repo(uow).for_member(
                member_id, limit=size, after=after, states=query_states or None
            )
            token = (
                self._tokens.encode({"after": cards[-1].package_id}, binding=binding)
                if len(cards) == size
                else ""
            )
            shown = [
                c for c in cards if not states or dp.effective_state(c.state, c.frozen_until, now) in states
            ]
            return pb.ListMemberPackagesResponse(
                member_packages=[package_to_proto(c, currency) for c in shown], next_page_token=token
            )

        return await self._read(read)

    async def ConsumePackageSession(self, request, context) -> pb.ConsumePackageSessionResponse:
        from services.wallet.entrypoints.grpc_servicer import store_id_of, transaction_to_proto

        member_id, package_id = _package_of(request.package)
        store_id = store_id_of(request.store)
        caller = current_principal()

        async def effect(uow) -> pb.ConsumePackageSessionResponse:
            pkg, posted, _ = await pk.consume(
                uow,
                caller,
                member_id=member_id,
                package_id=package_id,
                service=request.service,
                store_id=store_id,
                sessions=request.sessions or 1,
                serving_staff=request.serving_staff,
            )
            currency = (await uow.settings.get()).currency_code
            return pb.ConsumePackageSessionResponse(
                member_package=package_to_proto(pkg, currency),
                transaction=transaction_to_proto(posted, caller.tenant),
            )

        return await self._mutate("ConsumePackageSession", request, pb.ConsumePackageSessionResponse, effect)

    async def FreezePackage(self, request, context) -> pb.FreezePackageResponse:
        member_id, package_id = _package_of(request.package)
        frozen_until = request.frozen_until.ToDatetime(UTC) if request.HasField("frozen_until") else None
        caller = current_principal()

        async def effect(uow) -> pb.FreezePackageResponse:
            pkg = await pk.freeze(
                uow, caller, member_id=member_id, package_id=package_id, frozen_until=frozen_until
            )
            currency = (await uow.settings.get()).currency_code
            return pb.FreezePackageResponse(member_package=package_to_proto(pkg, currency))

        return await self._mutate("FreezePackage", request, pb.FreezePackageResponse, effect)

    async def UnfreezePackage(self, request, context) -> pb.UnfreezePackageResponse:
        member_id, package_id = _package_of(request.package)
        caller = current_principal()

        async def effect(uow) -> pb.UnfreezePackageResponse:
            pkg = await pk.unfreeze(uow, caller, member_id=member_id, package_id=package_id)
            currency = (await uow.settings.get()).currency_code
            return pb.UnfreezePackageResponse(member_package=package_to_proto(pkg, currency))

        return await self._mutate("UnfreezePackage", request, pb.UnfreezePackageResponse, effect)

    async def ExtendPackage(self, request, context) -> pb.ExtendPackageResponse:
        member_id, package_id = _package_of(request.package)
        caller = current_principal()

        async def effect(uow) -> pb.ExtendPackageResponse:
            pkg = await pk.extend(
                uow,
                caller,
                member_id=member_id,
                package_id=package_id,
                days=request.days,
                service=request.service,
            )
            currency = (await uow.settings.get()).currency_code
            return pb.ExtendPackageResponse(member_package=package_to_proto(pkg, currency))

        return await self._mutate("ExtendPackage", request, pb.ExtendPackageResponse, effect)

    async def TransferPackage(self, request, context) -> pb.TransferPackageResponse:
        from services.wallet.entrypoints.grpc_servicer import member_id_of, transaction_to_proto

        member_id, package_id = _package_of(request.package)
        to_member_id = member_id_of(request.to_member, "to_member")
        caller = current_principal()

        async def effect(uow) -> pb.TransferPackageResponse:
            source, target, posted = await pk.transfer(
                uow, caller, member_id=member_id, package_id=package_id, to_member_id=to_member_id
            )
            currency = (await uow.settings.get()).currency_code
            return pb.TransferPackageResponse(
                source_package=package_to_proto(source, currency),
                target_package=package_to_proto(target, currency),
                transaction=transaction_to_proto(posted, caller.tenant),
            )

        return await self._mutate("TransferPackage", request, pb.TransferPackageResponse, effect)

    async def RefundPackage(self, request, context) -> pb.RefundPackageResponse:
        from services.wallet.entrypoints.grpc_servicer import (
            store_id_of,
            transaction_to_proto,
            wallet_to_proto,
        )
        from services.wallet.service_layer import stored_value as sv

        member_id, package_id = _package_of(request.package)
        store_id = store_id_of(request.store)
        tender = _tender_name(request.tender, "tender")
        caller = current_principal()

        async def effect(uow) -> pb.RefundPackageResponse:
            result = await pk.refund(
                uow,
                caller,
                member_id=member_id,
                package_id=package_id,
                store_id=store_id,
                tender=tender,
                reason=request.reason,
            )
            currency = (await uow.settings.get()).currency_code
            return pb.RefundPackageResponse(
                member_package=package_to_proto(result.package, currency),
                transaction=transaction_to_proto(result.transaction, caller.tenant),
                refund_minor=result.refund_minor,
                sessions_refunded=result.sessions_refunded,
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("RefundPackage", request, pb.RefundPackageResponse, effect)
