import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.members.v1 import campaign_pb2 as _campaign_pb2
from peony.members.v1 import card_pb2 as _card_pb2
from peony.members.v1 import imports_pb2 as _imports_pb2
from peony.members.v1 import member_pb2 as _member_pb2
from peony.members.v1 import referral_pb2 as _referral_pb2
from peony.members.v1 import segment_pb2 as _segment_pb2
from peony.members.v1 import store_pb2 as _store_pb2
from peony.members.v1 import tier_pb2 as _tier_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateStoreRequest(_message.Message):
    __slots__ = ("store", "store_id", "request_id")
    STORE_FIELD_NUMBER: _ClassVar[int]
    STORE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    store: _store_pb2.Store
    store_id: str
    request_id: str
    def __init__(self, store: _Optional[_Union[_store_pb2.Store, _Mapping]] = ..., store_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateStoreResponse(_message.Message):
    __slots__ = ("store",)
    STORE_FIELD_NUMBER: _ClassVar[int]
    store: _store_pb2.Store
    def __init__(self, store: _Optional[_Union[_store_pb2.Store, _Mapping]] = ...) -> None: ...

class GetStoreRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetStoreResponse(_message.Message):
    __slots__ = ("store",)
    STORE_FIELD_NUMBER: _ClassVar[int]
    store: _store_pb2.Store
    def __init__(self, store: _Optional[_Union[_store_pb2.Store, _Mapping]] = ...) -> None: ...

class UpdateStoreRequest(_message.Message):
    __slots__ = ("store", "update_mask", "request_id")
    STORE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    store: _store_pb2.Store
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, store: _Optional[_Union[_store_pb2.Store, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateStoreResponse(_message.Message):
    __slots__ = ("store",)
    STORE_FIELD_NUMBER: _ClassVar[int]
    store: _store_pb2.Store
    def __init__(self, store: _Optional[_Union[_store_pb2.Store, _Mapping]] = ...) -> None: ...

class ListStoresRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStoresResponse(_message.Message):
    __slots__ = ("stores", "next_page_token")
    STORES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    stores: _containers.RepeatedCompositeFieldContainer[_store_pb2.Store]
    next_page_token: str
    def __init__(self, stores: _Optional[_Iterable[_Union[_store_pb2.Store, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RegisterMemberRequest(_message.Message):
    __slots__ = ("member", "referral_code", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_CODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    referral_code: str
    request_id: str
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ..., referral_code: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RegisterMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ...) -> None: ...

class GetMemberRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ...) -> None: ...

class UpdateMemberRequest(_message.Message):
    __slots__ = ("member", "update_mask", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateMemberResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ...) -> None: ...

class ListMembersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "home_store", "tier_id", "display_name_prefix")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HOME_STORE_FIELD_NUMBER: _ClassVar[int]
    TIER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    home_store: str
    tier_id: str
    display_name_prefix: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., home_store: _Optional[str] = ..., tier_id: _Optional[str] = ..., display_name_prefix: _Optional[str] = ...) -> None: ...

class ListMembersResponse(_message.Message):
    __slots__ = ("members", "next_page_token")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[_member_pb2.Member]
    next_page_token: str
    def __init__(self, members: _Optional[_Iterable[_Union[_member_pb2.Member, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class FindMemberByPhoneRequest(_message.Message):
    __slots__ = ("phone",)
    PHONE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    def __init__(self, phone: _Optional[str] = ...) -> None: ...

class FindMemberByPhoneResponse(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ...) -> None: ...

class FindMemberByCardNumberRequest(_message.Message):
    __slots__ = ("card_number",)
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    card_number: str
    def __init__(self, card_number: _Optional[str] = ...) -> None: ...

class FindMemberByCardNumberResponse(_message.Message):
    __slots__ = ("member", "card", "resolved_via_replacement", "resolved_via_legacy_alias")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_VIA_REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_VIA_LEGACY_ALIAS_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    card: _card_pb2.MemberCard
    resolved_via_replacement: bool
    resolved_via_legacy_alias: bool
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ..., card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ..., resolved_via_replacement: _Optional[bool] = ..., resolved_via_legacy_alias: _Optional[bool] = ...) -> None: ...

class ResolveContactRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ResolveContactResponse(_message.Message):
    __slots__ = ("member", "state", "display_name", "phone", "email", "wechat_openid", "push_tokens", "locale", "home_store", "time_zone", "consent")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    WECHAT_OPENID_FIELD_NUMBER: _ClassVar[int]
    PUSH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    HOME_STORE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    member: str
    state: _member_pb2.MemberState
    display_name: str
    phone: str
    email: str
    wechat_openid: str
    push_tokens: _containers.RepeatedScalarFieldContainer[str]
    locale: str
    home_store: str
    time_zone: str
    consent: _member_pb2.Consent
    def __init__(self, member: _Optional[str] = ..., state: _Optional[_Union[_member_pb2.MemberState, str]] = ..., display_name: _Optional[str] = ..., phone: _Optional[str] = ..., email: _Optional[str] = ..., wechat_openid: _Optional[str] = ..., push_tokens: _Optional[_Iterable[str]] = ..., locale: _Optional[str] = ..., home_store: _Optional[str] = ..., time_zone: _Optional[str] = ..., consent: _Optional[_Union[_member_pb2.Consent, _Mapping]] = ...) -> None: ...

class ResolveContactsRequest(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class ResolveContactsResponse(_message.Message):
    __slots__ = ("contacts", "missing")
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[ResolveContactResponse]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, contacts: _Optional[_Iterable[_Union[ResolveContactResponse, _Mapping]]] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class IssueCardRequest(_message.Message):
    __slots__ = ("parent", "card_number", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    card_number: str
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., card_number: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class IssueCardResponse(_message.Message):
    __slots__ = ("card",)
    CARD_FIELD_NUMBER: _ClassVar[int]
    card: _card_pb2.MemberCard
    def __init__(self, card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ...) -> None: ...

class ListCardsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCardsResponse(_message.Message):
    __slots__ = ("cards", "next_page_token")
    CARDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cards: _containers.RepeatedCompositeFieldContainer[_card_pb2.MemberCard]
    next_page_token: str
    def __init__(self, cards: _Optional[_Iterable[_Union[_card_pb2.MemberCard, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReportCardLostRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReportCardLostResponse(_message.Message):
    __slots__ = ("card",)
    CARD_FIELD_NUMBER: _ClassVar[int]
    card: _card_pb2.MemberCard
    def __init__(self, card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ...) -> None: ...

class ReplaceCardRequest(_message.Message):
    __slots__ = ("name", "new_card_number", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    new_card_number: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., new_card_number: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReplaceCardResponse(_message.Message):
    __slots__ = ("old_card", "new_card")
    OLD_CARD_FIELD_NUMBER: _ClassVar[int]
    NEW_CARD_FIELD_NUMBER: _ClassVar[int]
    old_card: _card_pb2.MemberCard
    new_card: _card_pb2.MemberCard
    def __init__(self, old_card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ..., new_card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ...) -> None: ...

class FreezeCardRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class FreezeCardResponse(_message.Message):
    __slots__ = ("card",)
    CARD_FIELD_NUMBER: _ClassVar[int]
    card: _card_pb2.MemberCard
    def __init__(self, card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ...) -> None: ...

class UnfreezeCardRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UnfreezeCardResponse(_message.Message):
    __slots__ = ("card",)
    CARD_FIELD_NUMBER: _ClassVar[int]
    card: _card_pb2.MemberCard
    def __init__(self, card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ...) -> None: ...

class AddLegacyCardNumberRequest(_message.Message):
    __slots__ = ("name", "legacy_number", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEGACY_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    legacy_number: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., legacy_number: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddLegacyCardNumberResponse(_message.Message):
    __slots__ = ("card",)
    CARD_FIELD_NUMBER: _ClassVar[int]
    card: _card_pb2.MemberCard
    def __init__(self, card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ...) -> None: ...

class GetTierLadderRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetTierLadderResponse(_message.Message):
    __slots__ = ("tier_ladder",)
    TIER_LADDER_FIELD_NUMBER: _ClassVar[int]
    tier_ladder: _tier_pb2.TierLadder
    def __init__(self, tier_ladder: _Optional[_Union[_tier_pb2.TierLadder, _Mapping]] = ...) -> None: ...

class GetReferralSettingsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetReferralSettingsResponse(_message.Message):
    __slots__ = ("referral_settings",)
    REFERRAL_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    referral_settings: _referral_pb2.ReferralSettings
    def __init__(self, referral_settings: _Optional[_Union[_referral_pb2.ReferralSettings, _Mapping]] = ...) -> None: ...

class UpdateReferralSettingsRequest(_message.Message):
    __slots__ = ("referral_settings", "update_mask", "request_id")
    REFERRAL_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    referral_settings: _referral_pb2.ReferralSettings
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, referral_settings: _Optional[_Union[_referral_pb2.ReferralSettings, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateReferralSettingsResponse(_message.Message):
    __slots__ = ("referral_settings",)
    REFERRAL_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    referral_settings: _referral_pb2.ReferralSettings
    def __init__(self, referral_settings: _Optional[_Union[_referral_pb2.ReferralSettings, _Mapping]] = ...) -> None: ...

class GetProgrammeSettingsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetProgrammeSettingsResponse(_message.Message):
    __slots__ = ("programme_settings",)
    PROGRAMME_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    programme_settings: _referral_pb2.ProgrammeSettings
    def __init__(self, programme_settings: _Optional[_Union[_referral_pb2.ProgrammeSettings, _Mapping]] = ...) -> None: ...

class UpdateProgrammeSettingsRequest(_message.Message):
    __slots__ = ("programme_settings", "update_mask", "request_id")
    PROGRAMME_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    programme_settings: _referral_pb2.ProgrammeSettings
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, programme_settings: _Optional[_Union[_referral_pb2.ProgrammeSettings, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateProgrammeSettingsResponse(_message.Message):
    __slots__ = ("programme_settings",)
    PROGRAMME_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    programme_settings: _referral_pb2.ProgrammeSettings
    def __init__(self, programme_settings: _Optional[_Union[_referral_pb2.ProgrammeSettings, _Mapping]] = ...) -> None: ...

class UpdateTierLadderRequest(_message.Message):
    __slots__ = ("tier_ladder", "update_mask", "request_id")
    TIER_LADDER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tier_ladder: _tier_pb2.TierLadder
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, tier_ladder: _Optional[_Union[_tier_pb2.TierLadder, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateTierLadderResponse(_message.Message):
    __slots__ = ("tier_ladder",)
    TIER_LADDER_FIELD_NUMBER: _ClassVar[int]
    tier_ladder: _tier_pb2.TierLadder
    def __init__(self, tier_ladder: _Optional[_Union[_tier_pb2.TierLadder, _Mapping]] = ...) -> None: ...

class SetMemberTierRequest(_message.Message):
    __slots__ = ("name", "tier_id", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    tier_id: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., tier_id: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetMemberTierResponse(_message.Message):
    __slots__ = ("member", "tier_change")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    TIER_CHANGE_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    tier_change: _tier_pb2.TierChange
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ..., tier_change: _Optional[_Union[_tier_pb2.TierChange, _Mapping]] = ...) -> None: ...

class ListTierChangesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTierChangesResponse(_message.Message):
    __slots__ = ("tier_changes", "next_page_token")
    TIER_CHANGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tier_changes: _containers.RepeatedCompositeFieldContainer[_tier_pb2.TierChange]
    next_page_token: str
    def __init__(self, tier_changes: _Optional[_Iterable[_Union[_tier_pb2.TierChange, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class EraseMemberRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class EraseMemberResponse(_message.Message):
    __slots__ = ("member", "erase_time")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    erase_time: _timestamp_pb2.Timestamp
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CloseCardRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CloseCardResponse(_message.Message):
    __slots__ = ("card",)
    CARD_FIELD_NUMBER: _ClassVar[int]
    card: _card_pb2.MemberCard
    def __init__(self, card: _Optional[_Union[_card_pb2.MemberCard, _Mapping]] = ...) -> None: ...

class CreateSegmentRequest(_message.Message):
    __slots__ = ("segment", "segment_id", "request_id")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.Segment
    segment_id: str
    request_id: str
    def __init__(self, segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ..., segment_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.Segment
    def __init__(self, segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class GetSegmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetSegmentResponse(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: _segment_pb2.Segment
    def __init__(self, segment: _Optional[_Union[_segment_pb2.Segment, _Mapping]] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments", "next_page_token")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[_segment_pb2.Segment]
    next_page_token: str
    def __init__(self, segments: _Optional[_Iterable[_Union[_segment_pb2.Segment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CountSegmentRequest(_message.Message):
    __slots__ = ("segment", "filter", "as_of_time")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    segment: str
    filter: _segment_pb2.SegmentFilter
    as_of_time: _timestamp_pb2.Timestamp
    def __init__(self, segment: _Optional[str] = ..., filter: _Optional[_Union[_segment_pb2.SegmentFilter, _Mapping]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CountSegmentResponse(_message.Message):
    __slots__ = ("member_count",)
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    member_count: int
    def __init__(self, member_count: _Optional[int] = ...) -> None: ...

class ListSegmentMembersRequest(_message.Message):
    __slots__ = ("segment", "filter", "as_of_time", "page_size", "page_token")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segment: str
    filter: _segment_pb2.SegmentFilter
    as_of_time: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, segment: _Optional[str] = ..., filter: _Optional[_Union[_segment_pb2.SegmentFilter, _Mapping]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSegmentMembersResponse(_message.Message):
    __slots__ = ("members", "next_page_token")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[_member_pb2.Member]
    next_page_token: str
    def __init__(self, members: _Optional[_Iterable[_Union[_member_pb2.Member, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateCampaignRequest(_message.Message):
    __slots__ = ("campaign", "campaign_id", "request_id", "validate_only")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    campaign_id: str
    request_id: str
    validate_only: bool
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ..., campaign_id: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class CreateCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[_campaign_pb2.Campaign]
    next_page_token: str
    def __init__(self, campaigns: _Optional[_Iterable[_Union[_campaign_pb2.Campaign, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PauseCampaignRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PauseCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class ResumeCampaignRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResumeCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class CancelCampaignRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CancelCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class GetCampaignResultsRequest(_message.Message):
    __slots__ = ("name", "window_days")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    window_days: int
    def __init__(self, name: _Optional[str] = ..., window_days: _Optional[int] = ...) -> None: ...

class GetCampaignResultsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _campaign_pb2.CampaignResults
    def __init__(self, results: _Optional[_Union[_campaign_pb2.CampaignResults, _Mapping]] = ...) -> None: ...

class CreateImportUploadRequest(_message.Message):
    __slots__ = ("upload", "request_id")
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    upload: _imports_pb2.ImportUpload
    request_id: str
    def __init__(self, upload: _Optional[_Union[_imports_pb2.ImportUpload, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateImportUploadResponse(_message.Message):
    __slots__ = ("upload",)
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    upload: _imports_pb2.ImportUpload
    def __init__(self, upload: _Optional[_Union[_imports_pb2.ImportUpload, _Mapping]] = ...) -> None: ...

class AppendImportChunkRequest(_message.Message):
    __slots__ = ("upload", "offset", "data")
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    upload: str
    offset: int
    data: bytes
    def __init__(self, upload: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class AppendImportChunkResponse(_message.Message):
    __slots__ = ("upload",)
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    upload: _imports_pb2.ImportUpload
    def __init__(self, upload: _Optional[_Union[_imports_pb2.ImportUpload, _Mapping]] = ...) -> None: ...

class StartImportRequest(_message.Message):
    __slots__ = ("kind", "upload", "mapping", "mapping_yaml", "dry_run", "encoding", "request_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    MAPPING_YAML_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    kind: _imports_pb2.ImportKind
    upload: str
    mapping: str
    mapping_yaml: str
    dry_run: bool
    encoding: str
    request_id: str
    def __init__(self, kind: _Optional[_Union[_imports_pb2.ImportKind, str]] = ..., upload: _Optional[str] = ..., mapping: _Optional[str] = ..., mapping_yaml: _Optional[str] = ..., dry_run: _Optional[bool] = ..., encoding: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class StartImportResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: _imports_pb2.ImportOperation
    def __init__(self, operation: _Optional[_Union[_imports_pb2.ImportOperation, _Mapping]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetOperationResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: _imports_pb2.ImportOperation
    def __init__(self, operation: _Optional[_Union[_imports_pb2.ImportOperation, _Mapping]] = ...) -> None: ...

class ListOperationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOperationsResponse(_message.Message):
    __slots__ = ("operations", "next_page_token")
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[_imports_pb2.ImportOperation]
    next_page_token: str
    def __init__(self, operations: _Optional[_Iterable[_Union[_imports_pb2.ImportOperation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelOperationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CancelOperationResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: _imports_pb2.ImportOperation
    def __init__(self, operation: _Optional[_Union[_imports_pb2.ImportOperation, _Mapping]] = ...) -> None: ...

class GetImportErrorReportRequest(_message.Message):
    __slots__ = ("name", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetImportErrorReportResponse(_message.Message):
    __slots__ = ("csv", "lines", "next_page_token")
    CSV_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    csv: bytes
    lines: int
    next_page_token: str
    def __init__(self, csv: _Optional[bytes] = ..., lines: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApproveCampaignRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ApproveCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class RejectCampaignRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RejectCampaignResponse(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: _campaign_pb2.Campaign
    def __init__(self, campaign: _Optional[_Union[_campaign_pb2.Campaign, _Mapping]] = ...) -> None: ...

class GetCampaignSettingsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCampaignSettingsResponse(_message.Message):
    __slots__ = ("campaign_settings",)
    CAMPAIGN_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    campaign_settings: _campaign_pb2.CampaignSettings
    def __init__(self, campaign_settings: _Optional[_Union[_campaign_pb2.CampaignSettings, _Mapping]] = ...) -> None: ...

class UpdateCampaignSettingsRequest(_message.Message):
    __slots__ = ("campaign_settings", "request_id")
    CAMPAIGN_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_settings: _campaign_pb2.CampaignSettings
    request_id: str
    def __init__(self, campaign_settings: _Optional[_Union[_campaign_pb2.CampaignSettings, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateCampaignSettingsResponse(_message.Message):
    __slots__ = ("campaign_settings",)
    CAMPAIGN_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    campaign_settings: _campaign_pb2.CampaignSettings
    def __init__(self, campaign_settings: _Optional[_Union[_campaign_pb2.CampaignSettings, _Mapping]] = ...) -> None: ...

class ListLapseRisksRequest(_message.Message):
    __slots__ = ("store", "warning_days", "page_size", "page_token")
    STORE_FIELD_NUMBER: _ClassVar[int]
    WARNING_DAYS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    store: str
    warning_days: int
    page_size: int
    page_token: str
    def __init__(self, store: _Optional[str] = ..., warning_days: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class LapseRisk(_message.Message):
    __slots__ = ("member", "last_visit_time", "days_since_last_visit", "days_until_lapse")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    LAST_VISIT_TIME_FIELD_NUMBER: _ClassVar[int]
    DAYS_SINCE_LAST_VISIT_FIELD_NUMBER: _ClassVar[int]
    DAYS_UNTIL_LAPSE_FIELD_NUMBER: _ClassVar[int]
    member: _member_pb2.Member
    last_visit_time: _timestamp_pb2.Timestamp
    days_since_last_visit: int
    days_until_lapse: int
    def __init__(self, member: _Optional[_Union[_member_pb2.Member, _Mapping]] = ..., last_visit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., days_since_last_visit: _Optional[int] = ..., days_until_lapse: _Optional[int] = ...) -> None: ...

class ListLapseRisksResponse(_message.Message):
    __slots__ = ("lapse_risks", "lapse_days", "next_page_token")
    LAPSE_RISKS_FIELD_NUMBER: _ClassVar[int]
    LAPSE_DAYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    lapse_risks: _containers.RepeatedCompositeFieldContainer[LapseRisk]
    lapse_days: int
    next_page_token: str
    def __init__(self, lapse_risks: _Optional[_Iterable[_Union[LapseRisk, _Mapping]]] = ..., lapse_days: _Optional[int] = ..., next_page_token: _Optional[str] = ...) -> None: ...
