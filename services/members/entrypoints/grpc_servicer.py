"""gRPC entrypoint of the members service: translates requests into handler calls and back."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from peony.members.v1 import campaign_pb2, member_pb2, referral_pb2, segment_pb2
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import members_service_pb2_grpc as pb_grpc

from kit import auth
from kit.auth import Principal, current_principal
from kit.errors import FailedPrecondition, InvalidArgument
from kit.fieldmask import checked_paths, mask_paths
from kit.idempotency import Idempotency
from kit.ids import RESOURCE_ID_RULE, is_resource_id, new_id, parse_name
from kit.pagination import PageTokens, page_size
from kit.servicer import ServicerKit
from kit.uow import UnitOfWorkFactory
from services.members.adapters.wallet_client import WalletClient, WalletUnavailable
from services.members.domain.member import Member
from services.members.domain.referral import MUTABLE as REFERRAL_MUTABLE
from services.members.domain.tiers import TierLadder
from services.members.domain.values import normalise_phone
from services.members.entrypoints import mapping as mp
from services.members.service_layer import (
    campaign_approval,
    campaign_rewards,
    campaigns,
    handlers,
    lapse_risks,
    programme_settings,
    segments,
)
from services.members.service_layer.lapse_risks import LapseRiskReads
from services.members.service_layer.queries import MembersQueries
from services.members.service_layer.unit_of_work import MembersUnitOfWork

R = TypeVar("R", bound=Message)


def _member_pb(
    member: Member, ladder: TierLadder, caller: Principal, *, reveal_pii: bool
) -> member_pb2.Member:
    """Every member a response carries: care data only for callers allowed to read it."""
    return mp.member_to_proto(
        member, ladder, reveal_pii=reveal_pii, reveal_care=caller.has(auth.MEMBERS_CARE_READ)
    )


class MembersServicer(ServicerKit[MembersUnitOfWork], pb_grpc.MembersServiceServicer):
    def __init__(
        self,
        uows: UnitOfWorkFactory[MembersUnitOfWork],
        queries: MembersQueries,
        idempotency: Idempotency,
        page_tokens: PageTokens,
        segment_reads: segments.SegmentReads,
        sms_price_minor: int = campaigns.DEFAULT_SMS_PRICE_MINOR,
        wallet: WalletClient | None = None,
        lapse_risks: LapseRiskReads | None = None,
        programme_defaults: programme_settings.ProgrammeRewards = programme_settings.ProgrammeRewards(),
    ):
        super().__init__(uows, idempotency, page_tokens)
        self._programme_defaults = programme_defaults  # the environment's, for tenants without a row
        self._queries = queries
        self._segments = segment_reads
        self._sms_price_minor = sms_price_minor
        self._wallet = wallet  # checks a campaign's reward voucher template
        self._lapse_risks = lapse_risks

    def _page(self, request, binding: str) -> tuple[int, str | None]:
        size = page_size(request.page_size)
        cursor = self._tokens.decode(request.page_token, binding=binding)
        return size, (cursor or {}).get("after")

    def _next_token(self, items: list, size: int, last_id: str, binding: str) -> str:
        return self._tokens.encode({"after": last_id}, binding=binding) if len(items) == size else ""

    # --- stores ------------------------------------------------------------------------------
    async def CreateStore(self, request: pb.CreateStoreRequest, context) -> pb.CreateStoreResponse:
        if request.store_id and not is_resource_id(request.store_id):
            raise InvalidArgument([("store_id", RESOURCE_ID_RULE)])
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.CreateStoreResponse:
            store = mp.store_from_proto(request.store, request.store_id or new_id())
            created = await handlers.create_store(uow, caller, store)
            return pb.CreateStoreResponse(store=mp.store_to_proto(created))

        return await self._mutate("CreateStore", request, pb.CreateStoreResponse, effect)

    async def GetStore(self, request: pb.GetStoreRequest, context) -> pb.GetStoreResponse:
        store_id = mp.require_id(request.name, "stores", "name")
        return pb.GetStoreResponse(
            store=mp.store_to_proto(await self._queries.get_store(current_principal(), store_id))
        )

    async def UpdateStore(self, request: pb.UpdateStoreRequest, context) -> pb.UpdateStoreResponse:
        store_id = mp.require_id(request.store.name, "stores", "store.name")
        paths = mask_paths(request.update_mask, request.store, handlers.STORE_MUTABLE)
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.UpdateStoreResponse:
            patch = mp.store_from_proto(request.store, store_id)
            updated = await handlers.update_store(uow, caller, store_id, patch, paths)
            return pb.UpdateStoreResponse(store=mp.store_to_proto(updated))

        return await self._mutate("UpdateStore", request, pb.UpdateStoreResponse, effect)

    async def ListStores(self, request: pb.ListStoresRequest, context) -> pb.ListStoresResponse:
        caller = current_principal()
        binding = f"{caller.tenant}|stores"
        size, after = self._page(request, binding)
        stores = await self._queries.list_stores(caller, limit=size, after=after)
        return pb.ListStoresResponse(
            stores=[mp.store_to_proto(s) for s in stores],
            next_page_token=self._next_token(stores, size, stores[-1].store_id if stores else "", binding),
        )

    # --- members -----------------------------------------------------------------------------
    async def RegisterMember(self, request: pb.RegisterMemberRequest, context) -> pb.RegisterMemberResponse:
        caller = current_principal()
        if request.member.home_store:
            mp.require_id(request.member.home_store, "stores", "member.home_store")

        async def effect(uow: MembersUnitOfWork) -> pb.RegisterMemberResponse:
            member = await handlers.register_member(
                uow, caller, mp.member_from_proto(request.member), request.referral_code
            )
            ladder = await uow.settings.ladder()
            reveal = self._queries.reveal_pii(caller, member.member_id, "RegisterMember")
            return pb.RegisterMemberResponse(member=_member_pb(member, ladder, caller, reveal_pii=reveal))

        return await self._mutate("RegisterMember", request, pb.RegisterMemberResponse, effect)

    async def GetMember(self, request: pb.GetMemberRequest, context) -> pb.GetMemberResponse:
        member_id = mp.require_id(request.name, "members", "name")
        caller = current_principal()
        view, ladder = await self._queries.get_member(caller, member_id)
        reveal = self._queries.reveal_pii(caller, member_id, "GetMember")
        # Memoised on the cached view: responses are never mutated after they are built.
        key = (reveal, caller.has(auth.MEMBERS_CARE_READ), ladder.version)
        response = view.rendered.get(key)
        if response is None:
            response = pb.GetMemberResponse(member=_member_pb(view.member, ladder, caller, reveal_pii=reveal))
            view.rendered[key] = response
        return response

    async def UpdateMember(self, request: pb.UpdateMemberRequest, context) -> pb.UpdateMemberResponse:
        member_id = mp.require_id(request.member.name, "members", "member.name")
        paths = mask_paths(request.update_mask, request.member, Member.MUTABLE_FIELDS)
        home_store_id = mp.optional_store_id(request.member.home_store, "member.home_store")
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.UpdateMemberResponse:
            patch = mp.member_from_proto(request.member)
            member = await handlers.update_member(uow, caller, member_id, patch, paths, home_store_id or None)
            ladder = await uow.settings.ladder()
            reveal = self._queries.reveal_pii(caller, member_id, "UpdateMember")
            return pb.UpdateMemberResponse(member=_member_pb(member, ladder, caller, reveal_pii=reveal))

        return await self._mutate("UpdateMember", request, pb.UpdateMemberResponse, effect)

    async def EraseMember(self, request: pb.EraseMemberRequest, context) -> pb.EraseMemberResponse:
        member_id = mp.require_id(request.name, "members", "name")
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.EraseMemberResponse:
            member, erase_time = await handlers.erase_member(uow, caller, member_id, request.reason)
            ladder = await uow.settings.ladder()
            response = pb.EraseMemberResponse(member=_member_pb(member, ladder, caller, reveal_pii=False))
            response.erase_time.FromDatetime(erase_time)
            return response

        return await self._mutate("EraseMember", request, pb.EraseMemberResponse, effect)

    async def ListMembers(self, request: pb.ListMembersRequest, context) -> pb.ListMembersResponse:
        caller = current_principal()
        home_store_id = mp.optional_store_id(request.home_store, "home_store")
        binding = f"{caller.tenant}|members|{home_store_id}|{request.tier_id}|{request.display_name_prefix}"
        size, after = self._page(request, binding)
        members, ladder = await self._queries.list_members(
            caller,
            limit=size,
            after=after,
            home_store_id=home_store_id,
            tier_id=request.tier_id,
            name_prefix=request.display_name_prefix,
        )
        # Lists never reveal personal data: a full unmasked export is not a front-desk operation.
        return pb.ListMembersResponse(
            members=[_member_pb(m, ladder, caller, reveal_pii=False) for m in members],
            next_page_token=self._next_token(
                members, size, members[-1].member_id if members else "", binding
            ),
        )

    async def FindMemberByPhone(
        self, request: pb.FindMemberByPhoneRequest, context
    ) -> pb.FindMemberByPhoneResponse:
        phone = normalise_phone(request.phone)
        if phone is None:
            raise InvalidArgument(
                [("phone", "must be a mobile number such as 13812345678 or +8613812345678")]
            )
        caller = current_principal()
        member, ladder = await self._queries.find_member_by_phone(caller, phone)
        reveal = self._queries.reveal_pii(caller, member.member_id, "FindMemberByPhone")
        return pb.FindMemberByPhoneResponse(member=_member_pb(member, ladder, caller, reveal_pii=reveal))

    async def FindMemberByCardNumber(
        self, request: pb.FindMemberByCardNumberRequest, context
    ) -> pb.FindMemberByCardNumberResponse:
        if not request.card_number.strip():
            raise InvalidArgument([("card_number", "is required")])
        caller = current_principal()
        member, ladder, resolved = await self._queries.find_member_by_card_number(
            caller, request.card_number.strip()
        )
        reveal = self._queries.reveal_pii(caller, member.member_id, "FindMemberByCardNumber")
        return pb.FindMemberByCardNumberResponse(
            member=_member_pb(member, ladder, caller, reveal_pii=reveal),
            card=mp.card_to_proto(resolved.card),
            resolved_via_replacement=resolved.via_replacement,
            resolved_via_legacy_alias=resolved.via_legacy_alias,
        )

    async def ResolveContact(self, request: pb.ResolveContactRequest, context) -> pb.ResolveContactResponse:
        member_id = mp.require_id(request.name, "members", "name")
        return mp.contact_to_proto(await self._queries.resolve_contact(current_principal(), member_id))

    async def ResolveContacts(
        self, request: pb.ResolveContactsRequest, context
    ) -> pb.ResolveContactsResponse:
        if not request.names:
            raise InvalidArgument([("names", "name at least one member")])
        member_ids = [mp.require_id(name, "members", f"names[{i}]") for i, name in enumerate(request.names)]
        contacts = await self._queries.resolve_contacts(current_principal(), member_ids)
        found = {c.member.member_id for c in contacts}
        return pb.ResolveContactsResponse(
            contacts=[mp.contact_to_proto(c) for c in contacts],
            missing=list(dict.fromkeys(f"members/{m}" for m in member_ids if m not in found)),
        )

    # --- cards -------------------------------------------------------------------------------
    async def IssueCard(self, request: pb.IssueCardRequest, context) -> pb.IssueCardResponse:
        member_id = mp.require_id(request.parent, "members", "parent")
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.IssueCardResponse:
            card = await handlers.issue_card(uow, caller, member_id, request.card_number.strip())
            return pb.IssueCardResponse(card=mp.card_to_proto(card))

        return await self._mutate("IssueCard", request, pb.IssueCardResponse, effect)

    async def ListCards(self, request: pb.ListCardsRequest, context) -> pb.ListCardsResponse:
        member_id = mp.require_id(request.parent, "members", "parent")
        caller = current_principal()
        binding = f"{caller.tenant}|cards|{member_id}"
        size, after = self._page(request, binding)
        found = await self._queries.list_cards(caller, member_id, limit=size, after=after)
        return pb.ListCardsResponse(
            cards=[mp.card_to_proto(c) for c in found],
            next_page_token=self._next_token(found, size, found[-1].card_id if found else "", binding),
        )

    async def ReportCardLost(self, request: pb.ReportCardLostRequest, context) -> pb.ReportCardLostResponse:
        member_id, card_id = mp.card_ids(request.name)
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.ReportCardLostResponse:
            card = await handlers.report_card_lost(uow, caller, member_id, card_id)
            return pb.ReportCardLostResponse(card=mp.card_to_proto(card))

        return await self._mutate("ReportCardLost", request, pb.ReportCardLostResponse, effect)

    async def ReplaceCard(self, request: pb.ReplaceCardRequest, context) -> pb.ReplaceCardResponse:
        member_id, card_id = mp.card_ids(request.name)
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.ReplaceCardResponse:
            old, new = await handlers.replace_card(
                uow, caller, member_id, card_id, request.new_card_number.strip()
            )
            return pb.ReplaceCardResponse(old_card=mp.card_to_proto(old), new_card=mp.card_to_proto(new))

        return await self._mutate("ReplaceCard", request, pb.ReplaceCardResponse, effect)

    async def FreezeCard(self, request: pb.FreezeCardRequest, context) -> pb.FreezeCardResponse:
        member_id, card_id = mp.card_ids(request.name)
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.FreezeCardResponse:
            card = await handlers.freeze_card(uow, caller, member_id, card_id, request.reason)
            return pb.FreezeCardResponse(card=mp.card_to_proto(card))

        return await self._mutate("FreezeCard", request, pb.FreezeCardResponse, effect)

    async def CloseCard(self, request: pb.CloseCardRequest, context) -> pb.CloseCardResponse:
        member_id, card_id = mp.card_ids(request.name)
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.CloseCardResponse:
            card = await handlers.close_card(uow, caller, member_id, card_id, request.reason)
            return pb.CloseCardResponse(card=mp.card_to_proto(card))

        return await self._mutate("CloseCard", request, pb.CloseCardResponse, effect)

    async def UnfreezeCard(self, request: pb.UnfreezeCardRequest, context) -> pb.UnfreezeCardResponse:
        member_id, card_id = mp.card_ids(request.name)
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.UnfreezeCardResponse:
            card = await handlers.unfreeze_card(uow, caller, member_id, card_id)
            return pb.UnfreezeCardResponse(card=mp.card_to_proto(card))

        return await self._mutate("UnfreezeCard", request, pb.UnfreezeCardResponse, effect)

    async def AddLegacyCardNumber(
        self, request: pb.AddLegacyCardNumberRequest, context
    ) -> pb.AddLegacyCardNumberResponse:
        member_id, card_id = mp.card_ids(request.name)
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.AddLegacyCardNumberResponse:
            card = await handlers.add_legacy_card_number(
                uow, caller, member_id, card_id, request.legacy_number.strip()
            )
            return pb.AddLegacyCardNumberResponse(card=mp.card_to_proto(card))

        return await self._mutate("AddLegacyCardNumber", request, pb.AddLegacyCardNumberResponse, effect)

    # --- tiers -------------------------------------------------------------------------------
    async def GetTierLadder(self, request: pb.GetTierLadderRequest, context) -> pb.GetTierLadderResponse:
        if request.name not in ("", "tierLadder"):
            raise InvalidArgument([("name", "must be tierLadder")])
        ladder, update_time = await self._queries.get_tier_ladder(current_principal())
        return pb.GetTierLadderResponse(tier_ladder=mp.ladder_to_proto(ladder, update_time))  # type: ignore[arg-type]

    async def UpdateTierLadder(
        self, request: pb.UpdateTierLadderRequest, context
    ) -> pb.UpdateTierLadderResponse:
        if request.tier_ladder.name not in ("", "tierLadder"):
            raise InvalidArgument([("tier_ladder.name", "must be tierLadder")])
        paths = mask_paths(request.update_mask, request.tier_ladder, handlers.LADDER_MUTABLE)
        caller = current_principal()
        patch = mp.ladder_from_proto(request.tier_ladder)
        if "tiers" in paths:
            caller.require(auth.TIERS_MANAGE)  # before asking the wallet anything
            await self._check_birthday_vouchers(caller.tenant, patch)

        async def effect(uow: MembersUnitOfWork) -> pb.UpdateTierLadderResponse:
            ladder = await handlers.update_tier_ladder(uow, caller, patch, paths)
            update_time = await uow.settings.ladder_update_time()
            return pb.UpdateTierLadderResponse(tier_ladder=mp.ladder_to_proto(ladder, update_time))

        return await self._mutate("UpdateTierLadder", request, pb.UpdateTierLadderResponse, effect)

    async def _check_birthday_vouchers(self, tenant: str, ladder) -> None:
        """Each tier's birthday voucher template must exist in the wallet and be active."""
        for i, tier in enumerate(ladder.tiers):
            template_id = tier.benefits.birthday_voucher_template_id
            if not template_id:
                continue
            field = f"tier_ladder.tiers[{i}].benefits.birthday_voucher_template"
            if not is_resource_id(template_id):
                raise InvalidArgument([(field, "must be voucherTemplates/{template}")])
            if self._wallet is None:
                raise WalletUnavailable("birthday vouchers need the wallet service")
            await self._wallet.require_active_voucher_template(tenant, template_id, field)

    async def GetReferralSettings(
        self, request: pb.GetReferralSettingsRequest, context
    ) -> pb.GetReferralSettingsResponse:
        if request.name not in ("", "referralSettings"):
            raise InvalidArgument([("name", "must be referralSettings")])
        terms, update_time, currency = await self._queries.get_referral_settings(current_principal())
        return pb.GetReferralSettingsResponse(
            referral_settings=mp.referral_settings_to_proto(terms, update_time, currency)
        )

    async def UpdateReferralSettings(
        self, request: pb.UpdateReferralSettingsRequest, context
    ) -> pb.UpdateReferralSettingsResponse:
        settings = request.referral_settings
        if settings.name not in ("", "referralSettings"):
            raise InvalidArgument([("referral_settings.name", "must be referralSettings")])
        paths = checked_paths(request.update_mask, settings, REFERRAL_MUTABLE)
        patch = mp.referral_terms_from_proto(settings)
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.UpdateReferralSettingsResponse:
            terms, update_time = await handlers.update_referral_settings(uow, caller, patch, paths)
            currency = (await uow.settings.ladder()).currency_code
            return pb.UpdateReferralSettingsResponse(
                referral_settings=mp.referral_settings_to_proto(terms, update_time, currency)
            )

        return await self._mutate(
            "UpdateReferralSettings", request, pb.UpdateReferralSettingsResponse, effect
        )

    async def GetProgrammeSettings(
        self, request: pb.GetProgrammeSettingsRequest, context
    ) -> pb.GetProgrammeSettingsResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_READ)
        if request.name != programme_settings.SETTINGS_NAME:
            raise InvalidArgument([("name", f"must be {programme_settings.SETTINGS_NAME}")])
        rewards = await self._uows.run(
            caller.tenant,
            lambda uow: programme_settings.tenant_rewards(
                uow.session, caller.tenant, self._programme_defaults
            ),
            read_only=True,
        )
        return pb.GetProgrammeSettingsResponse(programme_settings=_programme_settings_pb(rewards))

    async def UpdateProgrammeSettings(
        self, request: pb.UpdateProgrammeSettingsRequest, context
    ) -> pb.UpdateProgrammeSettingsResponse:
        settings = request.programme_settings
        if settings.name not in ("", programme_settings.SETTINGS_NAME):
            raise InvalidArgument(
                [("programme_settings.name", f"must be {programme_settings.SETTINGS_NAME}")]
            )
        paths = checked_paths(request.update_mask, settings, programme_settings.MUTABLE)
        caller = current_principal()
        caller.require(auth.TIERS_MANAGE)  # before asking the wallet anything
        patch = programme_settings.ProgrammeRewards(
            anniversary_points=settings.anniversary_points,
            anniversary_voucher_template=_template_id(settings.anniversary_voucher_template),
            lapse_voucher_template=_template_id(settings.lapse_voucher_template),
            # only a field the mask names is checked here: unset, the default (any valid tuple)
            lapse_days=tuple(settings.lapse_days)
            if "lapse_days" in paths
            else programme_settings.ProgrammeRewards().lapse_days,
        )
        patch.validate()  # the fields named are checked again against the stored row in effect
        for field in programme_settings.TEMPLATE_FIELDS:
            template_id = getattr(patch, field)
            if field in paths and template_id:
                if self._wallet is None:
                    raise WalletUnavailable("programme vouchers need the wallet service")
                await self._wallet.require_active_voucher_template(
                    caller.tenant, template_id, f"programme_settings.{field}"
                )

        async def effect(uow: MembersUnitOfWork) -> pb.UpdateProgrammeSettingsResponse:
            saved = await programme_settings.update_rewards(
                uow, caller, patch, paths, self._programme_defaults
            )
            return pb.UpdateProgrammeSettingsResponse(programme_settings=_programme_settings_pb(saved))

        return await self._mutate(
            "UpdateProgrammeSettings", request, pb.UpdateProgrammeSettingsResponse, effect
        )

    async def SetMemberTier(self, request: pb.SetMemberTierRequest, context) -> pb.SetMemberTierResponse:
        member_id = mp.require_id(request.name, "members", "name")
        caller = current_principal()

        async def effect(uow: MembersUnitOfWork) -> pb.SetMemberTierResponse:
            member, change = await handlers.set_member_tier(
                uow, caller, member_id, request.tier_id, request.reason
            )
            ladder = await uow.settings.ladder()
            reveal = self._queries.reveal_pii(caller, member_id, "SetMemberTier")
            return pb.SetMemberTierResponse(
                member=_member_pb(member, ladder, caller, reveal_pii=reveal),
                tier_change=mp.tier_change_to_proto(member_id, change),
            )

        return await self._mutate("SetMemberTier", request, pb.SetMemberTierResponse, effect)

    async def ListTierChanges(
        self, request: pb.ListTierChangesRequest, context
    ) -> pb.ListTierChangesResponse:
        member_id = mp.require_id(request.parent, "members", "parent")
        caller = current_principal()
        binding = f"{caller.tenant}|tierChanges|{member_id}"
        size, after = self._page(request, binding)
        rows = await self._queries.list_tier_changes(caller, member_id, limit=size, after=after)
        return pb.ListTierChangesResponse(
            tier_changes=[mp.tier_change_to_proto(member_id, r) for r in rows],
            next_page_token=self._next_token(rows, size, str(rows[-1].change_id) if rows else "", binding),
        )

    # --- segments ----------------------------------------------------------------------------
    async def CreateSegment(self, request: pb.CreateSegmentRequest, context) -> pb.CreateSegmentResponse:
        current_principal().require(auth.MEMBERS_SEGMENTS_MANAGE)  # before the request's shape
        if request.segment_id and not is_resource_id(request.segment_id):
            raise InvalidArgument([("segment_id", RESOURCE_ID_RULE)])
        if not request.HasField("segment"):
            raise InvalidArgument([("segment", "is required")])
        caller = current_principal()
        segment_id = request.segment_id or new_id()

        async def effect(uow: MembersUnitOfWork) -> pb.CreateSegmentResponse:
            saved = await segments.create_segment(
                uow, caller, segment_id, request.segment.display_name, request.segment.filter
            )
            return pb.CreateSegmentResponse(segment=_segment_pb(saved))

        return await self._mutate("CreateSegment", request, pb.CreateSegmentResponse, effect)

    async def GetSegment(self, request: pb.GetSegmentRequest, context) -> pb.GetSegmentResponse:
        current_principal().require(auth.MEMBERS_SEGMENTS_MANAGE)  # before the request's shape
        segment_id = mp.require_id(request.name, "segments", "name")
        return pb.GetSegmentResponse(
            segment=_segment_pb(await self._segments.get(current_principal(), segment_id))
        )

    async def ListSegments(self, request: pb.ListSegmentsRequest, context) -> pb.ListSegmentsResponse:
        caller = current_principal()
        binding = f"{caller.tenant}|segments"
        size, after = self._page(request, binding)
        saved = await self._segments.list(caller, limit=size, after=after)
        return pb.ListSegmentsResponse(
            segments=[_segment_pb(x) for x in saved],
            next_page_token=self._next_token(saved, size, saved[-1].segment_id if saved else "", binding),
        )

    async def CountSegment(self, request: pb.CountSegmentRequest, context) -> pb.CountSegmentResponse:
        current_principal().require(auth.MEMBERS_SEGMENTS_MANAGE)  # before the request's shape
        segment_id, f, as_of = _segment_source(request)
        count = await self._segments.count(current_principal(), segment_id, f, as_of)
        return pb.CountSegmentResponse(member_count=count)

    async def ListSegmentMembers(
        self, request: pb.ListSegmentMembersRequest, context
    ) -> pb.ListSegmentMembersResponse:
        current_principal().require(auth.MEMBERS_SEGMENTS_MANAGE)  # before the request's shape
        segment_id, f, as_of = _segment_source(request)
        caller = current_principal()
        # The token is bound to everything that decides the page: the segment or filter and the
        # requested evaluation time (without one, the first page's time travels in the token).
        source = hashlib.sha256(
            request.segment.encode()
            + b"|"
            + request.filter.SerializeToString(deterministic=True)
            + b"|"
            + request.as_of_time.SerializeToString(deterministic=True)
        ).hexdigest()
        binding = f"{caller.tenant}|segment-members|{source}"
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        if request.page_token and not request.HasField("as_of_time"):
            # Later pages keep the first page's evaluation time, so the list does not shift.
            as_of = datetime.fromisoformat(cursor.get("as_of", as_of.isoformat()))
        size = page_size(request.page_size)
        members = await self._segments.members(
            caller, segment_id, f, as_of, limit=size, after=cursor.get("after")
        )
        ladder = await self._queries.ladder(caller)
        token = ""
        if len(members) == size:
            token = self._tokens.encode(
                {"after": members[-1].member_id, "as_of": as_of.isoformat()}, binding=binding
            )
        return pb.ListSegmentMembersResponse(
            members=[_member_pb(m, ladder, caller, reveal_pii=False) for m in members],
            next_page_token=token,
        )

    # --- 流失预警 -------------------------------------------------------------------------------
    async def ListLapseRisks(self, request: pb.ListLapseRisksRequest, context) -> pb.ListLapseRisksResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_READ)  # before the request's shape
        caller.require_staff()
        store_id = mp.require_id(request.store, "stores", "store")
        caller.require_store(request.store)
        reads = self._lapse_risks
        if reads is None:
            raise FailedPrecondition("the lapse programme is not configured", reason="LAPSE_NOT_CONFIGURED")
        lapse_days = await reads.lapse_days(caller.tenant)
        warning = lapse_risks.warning_days(request.warning_days, lapse_days)
        binding = f"{caller.tenant}|lapseRisks|{store_id}|{lapse_days}|{warning}"
        size = page_size(request.page_size)
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        # later pages keep the first page's "now", so the window does not slide under the reader
        now = datetime.fromisoformat(cursor["now"]) if "now" in cursor else datetime.now(UTC)
        after = (datetime.fromisoformat(cursor["since"]), cursor["after"]) if "after" in cursor else None
        risks = await reads.list(
            caller, store_id, lapse_days=lapse_days, warning=warning, now=now, limit=size, after=after
        )
        ladder = await self._queries.ladder(caller)
        token = ""
        if len(risks) == size:
            last = risks[-1]
            token = self._tokens.encode(
                {"after": last.member.member_id, "since": last.since.isoformat(), "now": now.isoformat()},
                binding=binding,
            )
        out = []
        for risk in risks:
            days = (now - risk.since).days
            out.append(
                pb.LapseRisk(
                    # a working list: masked, and without the care profile
                    member=mp.member_to_proto(risk.member, ladder, reveal_pii=False, reveal_care=False),
                    last_visit_time=_timestamp(risk.last_visit),
                    days_since_last_visit=days,
                    days_until_lapse=max(lapse_days - days, 0),
                )
            )
        return pb.ListLapseRisksResponse(lapse_risks=out, lapse_days=lapse_days, next_page_token=token)

    # --- campaigns ---------------------------------------------------------------------------
    async def CreateCampaign(self, request: pb.CreateCampaignRequest, context) -> pb.CreateCampaignResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)  # before the request's shape
        if request.campaign_id and not is_resource_id(request.campaign_id):
            raise InvalidArgument([("campaign_id", RESOURCE_ID_RULE)])
        if not request.HasField("campaign"):
            raise InvalidArgument([("campaign", "is required")])
        draft = _campaign_draft(request.campaign)
        now = datetime.now(UTC)
        campaigns.validate_draft(draft, now)
        if draft.reward.voucher_template_id:
            # the wallet owns templates: unknown → NOT_FOUND, deactivated → FAILED_PRECONDITION
            if self._wallet is None:
                raise WalletUnavailable("voucher rewards need the wallet service")
            await self._wallet.require_active_voucher_template(
                caller.tenant, draft.reward.voucher_template_id, "campaign.reward_voucher_template"
            )
        # the dry run's figures, also recorded on the campaign; NOT_FOUND for an unknown segment
        estimate = await campaigns.estimate(self._segments, caller, draft, self._sms_price_minor)
        campaign_id = request.campaign_id or new_id()
        if request.validate_only:
            settings = await self._uows.run(
                caller.tenant,
                lambda uow: campaign_approval.get_settings(uow.session, caller.tenant),
                read_only=True,
            )
            preview = {
                "campaign_id": campaign_id,
                "display_name": draft.display_name.strip(),
                "segment_id": draft.segment_id,
                "message_body": draft.message_body,
                "reward_points": draft.reward_points,
                "start_time": draft.start_time or now,
                "throttle_per_minute": draft.throttle_per_minute,
                "state": campaign_approval.initial_state(
                    estimate.sms_cost_minor, settings, campaigns.SCHEDULED
                ),
                "holdout_percent": draft.holdout_percent,
                "created_by": caller.subject,
                "estimated_member_count": estimate.member_count,
                "estimated_sms_cost_minor": estimate.sms_cost_minor,
                **campaign_rewards.columns(draft.reward),
            }
            return pb.CreateCampaignResponse(campaign=_campaign_pb(preview))

        async def effect(uow: MembersUnitOfWork) -> pb.CreateCampaignResponse:
            row = await campaigns.create_campaign(uow, caller, campaign_id, draft, estimate, now)
            return pb.CreateCampaignResponse(campaign=_campaign_pb(row))

        return await self._mutate("CreateCampaign", request, pb.CreateCampaignResponse, effect)

    async def GetCampaign(self, request: pb.GetCampaignRequest, context) -> pb.GetCampaignResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        campaign_id = mp.require_id(request.name, "campaigns", "name")
        row = await self._uows.run(
            caller.tenant,
            lambda uow: campaigns.get_campaign(uow.session, caller.tenant, campaign_id),
            read_only=True,
        )
        return pb.GetCampaignResponse(campaign=_campaign_pb(row))

    async def ListCampaigns(self, request: pb.ListCampaignsRequest, context) -> pb.ListCampaignsResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        binding = f"{caller.tenant}|campaigns"
        size, after = self._page(request, binding)
        rows = await self._uows.run(
            caller.tenant,
            lambda uow: campaigns.list_campaigns(uow.session, caller.tenant, limit=size, after=after),
            read_only=True,
        )
        return pb.ListCampaignsResponse(
            campaigns=[_campaign_pb(r) for r in rows],
            next_page_token=self._next_token(rows, size, rows[-1]["campaign_id"] if rows else "", binding),
        )

    async def _change_campaign(self, method: str, action: str, request, response_type):
        caller = current_principal()
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        campaign_id = mp.require_id(request.name, "campaigns", "name")

        async def effect(uow: MembersUnitOfWork):
            row = await campaigns.change_state(uow, caller, campaign_id, action)
            return response_type(campaign=_campaign_pb(row))

        return await self._mutate(method, request, response_type, effect)

    async def PauseCampaign(self, request: pb.PauseCampaignRequest, context) -> pb.PauseCampaignResponse:
        return await self._change_campaign("PauseCampaign", "pause", request, pb.PauseCampaignResponse)

    async def ResumeCampaign(self, request: pb.ResumeCampaignRequest, context) -> pb.ResumeCampaignResponse:
        return await self._change_campaign("ResumeCampaign", "resume", request, pb.ResumeCampaignResponse)

    async def CancelCampaign(self, request: pb.CancelCampaignRequest, context) -> pb.CancelCampaignResponse:
        return await self._change_campaign("CancelCampaign", "cancel", request, pb.CancelCampaignResponse)

    async def GetCampaignResults(
        self, request: pb.GetCampaignResultsRequest, context
    ) -> pb.GetCampaignResultsResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        campaign_id = mp.require_id(request.name, "campaigns", "name")
        window = request.window_days or campaigns.DEFAULT_ATTRIBUTION_DAYS
        if not 1 <= window <= campaigns.MAX_ATTRIBUTION_DAYS:
            raise InvalidArgument(
                [("window_days", f"must be between 1 and {campaigns.MAX_ATTRIBUTION_DAYS}")]
            )

        async def read(uow: MembersUnitOfWork):
            results = await campaigns.campaign_results(uow.session, caller.tenant, campaign_id, window)
            used = await campaign_rewards.redemptions(uow.session, caller.tenant, campaign_id, window)
            return results, used

        results, used = await self._uows.run(caller.tenant, read, read_only=True)
        return pb.GetCampaignResultsResponse(
            results=campaign_pb2.CampaignResults(
                campaign=campaigns.campaign_name(campaign_id),
                window_days=results.window_days,
                recipients_sent=results.recipients_sent,
                rewards_granted=results.rewards_granted,
                members_visited=results.members_visited,
                visits=results.visits,
                spend_minor=results.spend_minor,
                vouchers_redeemed=used.vouchers_redeemed,
                free_sessions_used=used.free_sessions_used,
                holdout_members=results.holdout.members,
                holdout_members_visited=results.holdout.members_visited,
                holdout_visits=results.holdout.visits,
                holdout_spend_minor=results.holdout.spend_minor,
            )
        )

    async def _review_campaign(self, method: str, request, response_type, *, approve: bool, reason: str = ""):
        caller = current_principal()
        caller.require(auth.MEMBERS_CAMPAIGNS_APPROVE)  # before the request's shape
        campaign_id = mp.require_id(request.name, "campaigns", "name")
        if not approve:
            campaign_approval.validate_rejection_reason(reason)

        async def effect(uow: MembersUnitOfWork):
            row = await campaigns.get_campaign(uow.session, caller.tenant, campaign_id, lock=True)
            reviewed = await campaign_approval.review(
                uow,
                caller,
                row,
                approve=approve,
                scheduled=campaigns.SCHEDULED,
                reason=reason.strip(),
                now=datetime.now(UTC),
            )
            return response_type(campaign=_campaign_pb(reviewed))

        return await self._mutate(method, request, response_type, effect)

    async def ApproveCampaign(
        self, request: pb.ApproveCampaignRequest, context
    ) -> pb.ApproveCampaignResponse:
        return await self._review_campaign(
            "ApproveCampaign", request, pb.ApproveCampaignResponse, approve=True
        )

    async def RejectCampaign(self, request: pb.RejectCampaignRequest, context) -> pb.RejectCampaignResponse:
        return await self._review_campaign(
            "RejectCampaign", request, pb.RejectCampaignResponse, approve=False, reason=request.reason
        )

    async def GetCampaignSettings(
        self, request: pb.GetCampaignSettingsRequest, context
    ) -> pb.GetCampaignSettingsResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        _require_settings_name(request.name, "name")
        settings = await self._uows.run(
            caller.tenant,
            lambda uow: campaign_approval.get_settings(uow.session, caller.tenant),
            read_only=True,
        )
        return pb.GetCampaignSettingsResponse(campaign_settings=_campaign_settings_pb(settings))

    async def UpdateCampaignSettings(
        self, request: pb.UpdateCampaignSettingsRequest, context
    ) -> pb.UpdateCampaignSettingsResponse:
        caller = current_principal()
        caller.require(auth.MEMBERS_CAMPAIGNS_APPROVE)
        _require_settings_name(request.campaign_settings.name, "campaign_settings.name")
        threshold = request.campaign_settings.approval_threshold_minor
        campaign_approval.validate_threshold(threshold)

        async def effect(uow: MembersUnitOfWork) -> pb.UpdateCampaignSettingsResponse:
            saved = await campaign_approval.update_settings(uow, caller, threshold)
            return pb.UpdateCampaignSettingsResponse(campaign_settings=_campaign_settings_pb(saved))

        return await self._mutate(
            "UpdateCampaignSettings", request, pb.UpdateCampaignSettingsResponse, effect
        )


_CAMPAIGN_STATES = {
    campaigns.SCHEDULED: campaign_pb2.CAMPAIGN_STATE_SCHEDULED,
    campaigns.RUNNING: campaign_pb2.CAMPAIGN_STATE_RUNNING,
    campaigns.PAUSED: campaign_pb2.CAMPAIGN_STATE_PAUSED,
    campaigns.COMPLETED: campaign_pb2.CAMPAIGN_STATE_COMPLETED,
    campaigns.CANCELLED: campaign_pb2.CAMPAIGN_STATE_CANCELLED,
    campaign_approval.PENDING_APPROVAL: campaign_pb2.CAMPAIGN_STATE_PENDING_APPROVAL,
    campaign_approval.REJECTED: campaign_pb2.CAMPAIGN_STATE_REJECTED,
}


def _require_settings_name(name: str, path: str) -> None:
    if name != campaign_approval.SETTINGS_NAME:
        raise InvalidArgument([(path, f"must be {campaign_approval.SETTINGS_NAME}")])


def _template_id(name: str) -> str:
    """``voucherTemplates/{id}`` → id; "" stays ""; anything else → a value validate() refuses."""
    if not name:
        return ""
    if len(name) > programme_settings.MAX_TEMPLATE_NAME:
        return "\x00"
    return parse_name(name, "voucherTemplates") or "\x00"


def _programme_settings_pb(rewards: programme_settings.ProgrammeRewards) -> referral_pb2.ProgrammeSettings:
    def template(template_id: str) -> str:
        return f"voucherTemplates/{template_id}" if template_id else ""

    return referral_pb2.ProgrammeSettings(
        name=programme_settings.SETTINGS_NAME,
        anniversary_points=rewards.anniversary_points,
        anniversary_voucher_template=template(rewards.anniversary_voucher_template),
        lapse_voucher_template=template(rewards.lapse_voucher_template),
        lapse_days=rewards.lapse_days,
        update_time=_timestamp(rewards.update_time),
    )


def _campaign_settings_pb(settings: campaign_approval.CampaignSettings) -> campaign_pb2.CampaignSettings:
    return campaign_pb2.CampaignSettings(
        name=campaign_approval.SETTINGS_NAME,
        approval_threshold_minor=settings.approval_threshold_minor,
        update_time=_timestamp(settings.update_time),
    )


def _campaign_draft(c: campaign_pb2.Campaign) -> campaigns.CampaignDraft:
    segment_id = mp.require_id(c.segment, "segments", "campaign.segment")
    start = None
    if c.HasField("start_time"):
        try:
            start = c.start_time.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):
            raise InvalidArgument([("campaign.start_time", "is not a valid timestamp")]) from None
    return campaigns.CampaignDraft(
        display_name=c.display_name,
        segment_id=segment_id,
        message_body=c.message_body,
        reward_points=c.reward_points,
        start_time=start,
        throttle_per_minute=c.throttle_per_minute or campaigns.DEFAULT_THROTTLE,
        reward=campaign_rewards.reward_draft(
            c.reward_voucher_template,
            c.reward_free_service,
            c.reward_free_sessions,
            c.reward_free_sessions_valid_days,
        ),
        reward_voucher_template=c.reward_voucher_template,
        holdout_percent=c.holdout_percent,
    )


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _campaign_pb(row: dict) -> campaign_pb2.Campaign:
    return campaign_pb2.Campaign(
        name=campaigns.campaign_name(row["campaign_id"]),
        display_name=row["display_name"],
        segment=segments.segment_name(row["segment_id"]),
        message_body=row["message_body"],
        reward_points=row["reward_points"],
        start_time=_timestamp(row["start_time"]),
        throttle_per_minute=row["throttle_per_minute"],
        state=_CAMPAIGN_STATES[row["state"]],
        targeted_count=row.get("targeted_count", 0),
        sent_count=row.get("sent_count", 0),
        suppressed_no_consent_count=row.get("suppressed_no_consent_count", 0),
        suppressed_inactive_count=row.get("suppressed_inactive_count", 0),
        estimated_member_count=row["estimated_member_count"],
        estimated_sms_cost_minor=row["estimated_sms_cost_minor"],
        create_time=_timestamp(row.get("create_time")),
        reward_voucher_template=(
            f"voucherTemplates/{row['reward_voucher_template_id']}"
            if row.get("reward_voucher_template_id")
            else ""
        ),
        reward_free_service=row.get("reward_free_service") or "",
        reward_free_sessions=row.get("reward_free_sessions") or 0,
        reward_free_sessions_valid_days=row.get("reward_free_sessions_valid_days") or 0,
        rewards_refused_count=row.get("rewards_refused_count") or 0,
        holdout_percent=row.get("holdout_percent") or 0,
        holdout_count=row.get("holdout_count") or 0,
        creator=row.get("created_by") or "",
        reviewer=row.get("reviewed_by") or "",
        review_time=_timestamp(row.get("reviewed_at")),
        rejection_reason=row.get("rejection_reason") or "",
    )


def _template_name(template_id: str | None) -> str:
    return f"voucherTemplates/{template_id}" if template_id else ""


def _segment_pb(saved) -> segment_pb2.Segment:
    created = Timestamp()
    created.FromDatetime(saved.create_time)
    return segment_pb2.Segment(
        name=segments.segment_name(saved.segment_id),
        display_name=saved.display_name,
        filter=segment_pb2.SegmentFilter.FromString(saved.filter),
        create_time=created,
    )


def _segment_source(request) -> tuple[str | None, segment_pb2.SegmentFilter | None, datetime]:
    """(saved segment id, ad-hoc filter, evaluation time) of a Count/ListSegmentMembers request."""
    has_filter = request.HasField("filter")
    if bool(request.segment) == has_filter:
        raise InvalidArgument([("segment", "give exactly one of segment and filter")])
    segment_id = mp.require_id(request.segment, "segments", "segment") if request.segment else None
    as_of = datetime.now(UTC)
    if request.HasField("as_of_time"):
        try:
            as_of = request.as_of_time.ToDatetime(tzinfo=UTC)
        except (ValueError, OverflowError):
            raise InvalidArgument([("as_of_time", "is not a valid timestamp")]) from None
    return segment_id, (request.filter if has_filter else None), as_of
