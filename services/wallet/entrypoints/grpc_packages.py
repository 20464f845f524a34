"""WalletService RPCs for packages: a mixin of WalletServicer (grpc_servicer.py), which supplies
`_mutate`, `_read`, `_tokens` (kit.servicer) and `_check_pin`."""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import wallet_service_pb2 as pb

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, Violations
from kit.ids import is_resource_id, new_id, parse_name
from kit.pagination import page_size
from services.wallet.domain import packages as dp
from services.wallet.entrypoints.mapping import (
    member_id_of,
    store_id_of,
    transaction_to_proto,
    wallet_to_proto,
)
from services.wallet.entrypoints.mapping_packages import (
    items_of,
    package_of,
    package_state_of,
    package_tender_of,
    package_to_proto,
    product_to_proto,
)
from services.wallet.service_layer import packages as pk
from services.wallet.service_layer import stored_value as sv

_PRODUCT_FIELDS = ("display_name", "price_minor", "items", "active")


class PackagesRpc:
    # --- products -----------------------------------------------------------------------------
    async def CreatePackageProduct(self, request, context) -> pb.CreatePackageProductResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        p = request.package_product
        v = Violations()
        if request.package_product_id and not is_resource_id(request.package_product_id):
            v.add("package_product_id", "must match [a-z0-9][a-z0-9-]{0,62}")
        items = items_of(p.items)
        dp.validate_product(v, "package_product", p.display_name, p.price_minor, items)
        v.raise_if_any()
        product = pk.PackageProduct(
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
                changes["items"] = items_of(p.items)
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
        member_id = member_id_of(request.member, "member")
        store_id = store_id_of(request.store)
        product_id = parse_name(request.product, "packageProducts")
        if product_id is None:
            raise InvalidArgument([("product", "must be packageProducts/{product}")])
        tenders = [
            (package_tender_of(t.tender, f"tenders[{i}].tender"), t.amount_minor)
            for i, t in enumerate(request.tenders)
        ]
        pk.validate_sold_by(
            request.sold_by, request.staff_position
        )  # before the PIN: a bad request counts no attempt
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
                staff_position=request.staff_position,
            )
            currency = (await uow.settings.get()).currency_code
            return pb.SellPackageResponse(
                member_package=package_to_proto(result.package, currency),
                transaction=transaction_to_proto(result.transaction, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("SellPackage", request, pb.SellPackageResponse, effect)

    async def ListMemberPackages(self, request, context) -> pb.ListMemberPackagesResponse:
        member_id = member_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")
        bad = [s for s in request.states if not package_state_of(s)]
        if bad:
            raise InvalidArgument([("states", "each must be a known package state")])
        states = sorted({package_state_of(s) for s in request.states})
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
        member_id, package_id = package_of(request.package)
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
        member_id, package_id = package_of(request.package)
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
        member_id, package_id = package_of(request.package)
        caller = current_principal()

        async def effect(uow) -> pb.UnfreezePackageResponse:
            pkg = await pk.unfreeze(uow, caller, member_id=member_id, package_id=package_id)
            currency = (await uow.settings.get()).currency_code
            return pb.UnfreezePackageResponse(member_package=package_to_proto(pkg, currency))

        return await self._mutate("UnfreezePackage", request, pb.UnfreezePackageResponse, effect)

    async def ExtendPackage(self, request, context) -> pb.ExtendPackageResponse:
        member_id, package_id = package_of(request.package)
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
        member_id, package_id = package_of(request.package)
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
        member_id, package_id = package_of(request.package)
        store_id = store_id_of(request.store)
        tender = package_tender_of(request.tender, "tender")
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
