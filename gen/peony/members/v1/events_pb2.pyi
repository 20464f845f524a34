import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.members.v1 import member_pb2 as _member_pb2
from peony.members.v1 import segment_pb2 as _segment_pb2
from peony.members.v1 import tier_pb2 as _tier_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemberRegistered(_message.Message):
    __slots__ = ("member", "member_number", "display_name", "home_store", "registration_channel", "referrer", "tier_id", "consent", "tier_benefits")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    MEMBER_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    HOME_STORE_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    TIER_ID_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    TIER_BENEFITS_FIELD_NUMBER: _ClassVar[int]
    member: str
    member_number: str
    display_name: str
    home_store: str
    registration_channel: _member_pb2.RegistrationChannel
    referrer: str
    tier_id: str
    consent: _member_pb2.Consent
    tier_benefits: _tier_pb2.TierBenefits
    def __init__(self, member: _Optional[str] = ..., member_number: _Optional[str] = ..., display_name: _Optional[str] = ..., home_store: _Optional[str] = ..., registration_channel: _Optional[_Union[_member_pb2.RegistrationChannel, str]] = ..., referrer: _Optional[str] = ..., tier_id: _Optional[str] = ..., consent: _Optional[_Union[_member_pb2.Consent, _Mapping]] = ..., tier_benefits: _Optional[_Union[_tier_pb2.TierBenefits, _Mapping]] = ...) -> None: ...

class MemberUpdated(_message.Message):
    __slots__ = ("member", "updated_fields")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    member: str
    updated_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, member: _Optional[str] = ..., updated_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class CardIssued(_message.Message):
    __slots__ = ("member", "card", "card_number")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    member: str
    card: str
    card_number: str
    def __init__(self, member: _Optional[str] = ..., card: _Optional[str] = ..., card_number: _Optional[str] = ...) -> None: ...

class CardReportedLost(_message.Message):
    __slots__ = ("member", "card", "card_number")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    member: str
    card: str
    card_number: str
    def __init__(self, member: _Optional[str] = ..., card: _Optional[str] = ..., card_number: _Optional[str] = ...) -> None: ...

class CardReplaced(_message.Message):
    __slots__ = ("member", "old_card", "old_card_number", "new_card", "new_card_number")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    OLD_CARD_FIELD_NUMBER: _ClassVar[int]
    OLD_CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NEW_CARD_FIELD_NUMBER: _ClassVar[int]
    NEW_CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    member: str
    old_card: str
    old_card_number: str
    new_card: str
    new_card_number: str
    def __init__(self, member: _Optional[str] = ..., old_card: _Optional[str] = ..., old_card_number: _Optional[str] = ..., new_card: _Optional[str] = ..., new_card_number: _Optional[str] = ...) -> None: ...

class CardFrozen(_message.Message):
    __slots__ = ("member", "card", "card_number", "reason")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member: str
    card: str
    card_number: str
    reason: str
    def __init__(self, member: _Optional[str] = ..., card: _Optional[str] = ..., card_number: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CardUnfrozen(_message.Message):
    __slots__ = ("member", "card", "card_number")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    member: str
    card: str
    card_number: str
    def __init__(self, member: _Optional[str] = ..., card: _Optional[str] = ..., card_number: _Optional[str] = ...) -> None: ...

class TierChanged(_message.Message):
    __slots__ = ("member", "from_tier_id", "to_tier_id", "reason", "staff_override", "benefits", "reason_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    FROM_TIER_ID_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STAFF_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    BENEFITS_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    from_tier_id: str
    to_tier_id: str
    reason: str
    staff_override: bool
    benefits: _tier_pb2.TierBenefits
    reason_code: _tier_pb2.TierChangeReason
    def __init__(self, member: _Optional[str] = ..., from_tier_id: _Optional[str] = ..., to_tier_id: _Optional[str] = ..., reason: _Optional[str] = ..., staff_override: _Optional[bool] = ..., benefits: _Optional[_Union[_tier_pb2.TierBenefits, _Mapping]] = ..., reason_code: _Optional[_Union[_tier_pb2.TierChangeReason, str]] = ...) -> None: ...

class StoreCreated(_message.Message):
    __slots__ = ("store", "display_name", "time_zone")
    STORE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    store: str
    display_name: str
    time_zone: str
    def __init__(self, store: _Optional[str] = ..., display_name: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class StoreUpdated(_message.Message):
    __slots__ = ("store", "display_name", "time_zone", "updated_fields")
    STORE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    store: str
    display_name: str
    time_zone: str
    updated_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, store: _Optional[str] = ..., display_name: _Optional[str] = ..., time_zone: _Optional[str] = ..., updated_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class TierLadderUpdated(_message.Message):
    __slots__ = ("tier_ladder", "version", "updated_fields", "tiers")
    TIER_LADDER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    tier_ladder: str
    version: int
    updated_fields: _containers.RepeatedScalarFieldContainer[str]
    tiers: _containers.RepeatedCompositeFieldContainer[_tier_pb2.Tier]
    def __init__(self, tier_ladder: _Optional[str] = ..., version: _Optional[int] = ..., updated_fields: _Optional[_Iterable[str]] = ..., tiers: _Optional[_Iterable[_Union[_tier_pb2.Tier, _Mapping]]] = ...) -> None: ...

class ReferralRewardEarned(_message.Message):
    __slots__ = ("referrer", "referee", "qualifying_spend_minor", "currency_code", "terms_included", "referrer_voucher_minor", "voucher_valid_days", "referrer_points", "referee_points")
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    REFEREE_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    TERMS_INCLUDED_FIELD_NUMBER: _ClassVar[int]
    REFERRER_VOUCHER_MINOR_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    REFERRER_POINTS_FIELD_NUMBER: _ClassVar[int]
    REFEREE_POINTS_FIELD_NUMBER: _ClassVar[int]
    referrer: str
    referee: str
    qualifying_spend_minor: int
    currency_code: str
    terms_included: bool
    referrer_voucher_minor: int
    voucher_valid_days: int
    referrer_points: int
    referee_points: int
    def __init__(self, referrer: _Optional[str] = ..., referee: _Optional[str] = ..., qualifying_spend_minor: _Optional[int] = ..., currency_code: _Optional[str] = ..., terms_included: _Optional[bool] = ..., referrer_voucher_minor: _Optional[int] = ..., voucher_valid_days: _Optional[int] = ..., referrer_points: _Optional[int] = ..., referee_points: _Optional[int] = ...) -> None: ...

class CardClosed(_message.Message):
    __slots__ = ("member", "card", "card_number", "reason")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member: str
    card: str
    card_number: str
    reason: str
    def __init__(self, member: _Optional[str] = ..., card: _Optional[str] = ..., card_number: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class MemberErased(_message.Message):
    __slots__ = ("member",)
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    member: str
    def __init__(self, member: _Optional[str] = ...) -> None: ...

class SegmentSaved(_message.Message):
    __slots__ = ("segment", "display_name", "filter")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    segment: str
    display_name: str
    filter: _segment_pb2.SegmentFilter
    def __init__(self, segment: _Optional[str] = ..., display_name: _Optional[str] = ..., filter: _Optional[_Union[_segment_pb2.SegmentFilter, _Mapping]] = ...) -> None: ...

class BirthdayBenefitDue(_message.Message):
    __slots__ = ("member", "year", "tier_id", "points", "store", "reward")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    TIER_ID_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    member: str
    year: int
    tier_id: str
    points: int
    store: str
    reward: ProgrammeReward
    def __init__(self, member: _Optional[str] = ..., year: _Optional[int] = ..., tier_id: _Optional[str] = ..., points: _Optional[int] = ..., store: _Optional[str] = ..., reward: _Optional[_Union[ProgrammeReward, _Mapping]] = ...) -> None: ...

class MemberLapsed(_message.Message):
    __slots__ = ("member", "days", "last_visit_time", "store", "reward", "episode")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    LAST_VISIT_TIME_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    EPISODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    days: int
    last_visit_time: _timestamp_pb2.Timestamp
    store: str
    reward: ProgrammeReward
    episode: str
    def __init__(self, member: _Optional[str] = ..., days: _Optional[int] = ..., last_visit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., store: _Optional[str] = ..., reward: _Optional[_Union[ProgrammeReward, _Mapping]] = ..., episode: _Optional[str] = ...) -> None: ...

class MemberReturned(_message.Message):
    __slots__ = ("member", "lapsed_days", "visit_time", "checkout", "appointment")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    LAPSED_DAYS_FIELD_NUMBER: _ClassVar[int]
    VISIT_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    member: str
    lapsed_days: int
    visit_time: _timestamp_pb2.Timestamp
    checkout: str
    appointment: str
    def __init__(self, member: _Optional[str] = ..., lapsed_days: _Optional[int] = ..., visit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., checkout: _Optional[str] = ..., appointment: _Optional[str] = ...) -> None: ...

class CampaignMessageDue(_message.Message):
    __slots__ = ("campaign", "member", "body", "points", "campaign_name", "store", "reward")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_NAME_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    member: str
    body: str
    points: int
    campaign_name: str
    store: str
    reward: ProgrammeReward
    def __init__(self, campaign: _Optional[str] = ..., member: _Optional[str] = ..., body: _Optional[str] = ..., points: _Optional[int] = ..., campaign_name: _Optional[str] = ..., store: _Optional[str] = ..., reward: _Optional[_Union[ProgrammeReward, _Mapping]] = ...) -> None: ...

class ProgrammeReward(_message.Message):
    __slots__ = ("points", "voucher_template", "free_service", "free_sessions", "free_sessions_valid_days")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    FREE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    FREE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    FREE_SESSIONS_VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    points: int
    voucher_template: str
    free_service: str
    free_sessions: int
    free_sessions_valid_days: int
    def __init__(self, points: _Optional[int] = ..., voucher_template: _Optional[str] = ..., free_service: _Optional[str] = ..., free_sessions: _Optional[int] = ..., free_sessions_valid_days: _Optional[int] = ...) -> None: ...

class MembershipAnniversaryDue(_message.Message):
    __slots__ = ("member", "year", "years", "store", "reward")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    YEARS_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    member: str
    year: int
    years: int
    store: str
    reward: ProgrammeReward
    def __init__(self, member: _Optional[str] = ..., year: _Optional[int] = ..., years: _Optional[int] = ..., store: _Optional[str] = ..., reward: _Optional[_Union[ProgrammeReward, _Mapping]] = ...) -> None: ...

class CampaignStarted(_message.Message):
    __slots__ = ("campaign", "segment", "targeted_count")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TARGETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    segment: str
    targeted_count: int
    def __init__(self, campaign: _Optional[str] = ..., segment: _Optional[str] = ..., targeted_count: _Optional[int] = ...) -> None: ...

class CampaignCompleted(_message.Message):
    __slots__ = ("campaign", "sent_count", "suppressed_no_consent_count", "suppressed_inactive_count")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    SENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_NO_CONSENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_INACTIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    sent_count: int
    suppressed_no_consent_count: int
    suppressed_inactive_count: int
    def __init__(self, campaign: _Optional[str] = ..., sent_count: _Optional[int] = ..., suppressed_no_consent_count: _Optional[int] = ..., suppressed_inactive_count: _Optional[int] = ...) -> None: ...
