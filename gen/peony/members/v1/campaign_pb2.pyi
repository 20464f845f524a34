import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CampaignState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_STATE_UNSPECIFIED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_SCHEDULED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_RUNNING: _ClassVar[CampaignState]
    CAMPAIGN_STATE_PAUSED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_COMPLETED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_CANCELLED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_PENDING_APPROVAL: _ClassVar[CampaignState]
    CAMPAIGN_STATE_REJECTED: _ClassVar[CampaignState]
CAMPAIGN_STATE_UNSPECIFIED: CampaignState
CAMPAIGN_STATE_SCHEDULED: CampaignState
CAMPAIGN_STATE_RUNNING: CampaignState
CAMPAIGN_STATE_PAUSED: CampaignState
CAMPAIGN_STATE_COMPLETED: CampaignState
CAMPAIGN_STATE_CANCELLED: CampaignState
CAMPAIGN_STATE_PENDING_APPROVAL: CampaignState
CAMPAIGN_STATE_REJECTED: CampaignState

class Campaign(_message.Message):
    __slots__ = ("name", "display_name", "segment", "message_body", "reward_points", "start_time", "throttle_per_minute", "state", "targeted_count", "sent_count", "suppressed_no_consent_count", "suppressed_inactive_count", "estimated_member_count", "estimated_sms_cost_minor", "create_time", "reward_voucher_template", "reward_free_service", "reward_free_sessions", "reward_free_sessions_valid_days", "rewards_refused_count", "holdout_percent", "holdout_count", "creator", "reviewer", "review_time", "rejection_reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_BODY_FIELD_NUMBER: _ClassVar[int]
    REWARD_POINTS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TARGETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_NO_CONSENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_INACTIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_SMS_COST_MINOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REWARD_VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FREE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FREE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FREE_SESSIONS_VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    REWARDS_REFUSED_COUNT_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    REJECTION_REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    segment: str
    message_body: str
    reward_points: int
    start_time: _timestamp_pb2.Timestamp
    throttle_per_minute: int
    state: CampaignState
    targeted_count: int
    sent_count: int
    suppressed_no_consent_count: int
    suppressed_inactive_count: int
    estimated_member_count: int
    estimated_sms_cost_minor: int
    create_time: _timestamp_pb2.Timestamp
    reward_voucher_template: str
    reward_free_service: str
    reward_free_sessions: int
    reward_free_sessions_valid_days: int
    rewards_refused_count: int
    holdout_percent: int
    holdout_count: int
    creator: str
    reviewer: str
    review_time: _timestamp_pb2.Timestamp
    rejection_reason: str
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., segment: _Optional[str] = ..., message_body: _Optional[str] = ..., reward_points: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., throttle_per_minute: _Optional[int] = ..., state: _Optional[_Union[CampaignState, str]] = ..., targeted_count: _Optional[int] = ..., sent_count: _Optional[int] = ..., suppressed_no_consent_count: _Optional[int] = ..., suppressed_inactive_count: _Optional[int] = ..., estimated_member_count: _Optional[int] = ..., estimated_sms_cost_minor: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reward_voucher_template: _Optional[str] = ..., reward_free_service: _Optional[str] = ..., reward_free_sessions: _Optional[int] = ..., reward_free_sessions_valid_days: _Optional[int] = ..., rewards_refused_count: _Optional[int] = ..., holdout_percent: _Optional[int] = ..., holdout_count: _Optional[int] = ..., creator: _Optional[str] = ..., reviewer: _Optional[str] = ..., review_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rejection_reason: _Optional[str] = ...) -> None: ...

class CampaignSettings(_message.Message):
    __slots__ = ("name", "approval_threshold_minor", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_THRESHOLD_MINOR_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    approval_threshold_minor: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., approval_threshold_minor: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CampaignResults(_message.Message):
    __slots__ = ("campaign", "window_days", "recipients_sent", "rewards_granted", "members_visited", "visits", "spend_minor", "vouchers_redeemed", "free_sessions_used", "holdout_members", "holdout_members_visited", "holdout_visits", "holdout_spend_minor")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_SENT_FIELD_NUMBER: _ClassVar[int]
    REWARDS_GRANTED_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_VISITED_FIELD_NUMBER: _ClassVar[int]
    VISITS_FIELD_NUMBER: _ClassVar[int]
    SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_REDEEMED_FIELD_NUMBER: _ClassVar[int]
    FREE_SESSIONS_USED_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_MEMBERS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_MEMBERS_VISITED_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_VISITS_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    window_days: int
    recipients_sent: int
    rewards_granted: int
    members_visited: int
    visits: int
    spend_minor: int
    vouchers_redeemed: int
    free_sessions_used: int
    holdout_members: int
    holdout_members_visited: int
    holdout_visits: int
    holdout_spend_minor: int
    def __init__(self, campaign: _Optional[str] = ..., window_days: _Optional[int] = ..., recipients_sent: _Optional[int] = ..., rewards_granted: _Optional[int] = ..., members_visited: _Optional[int] = ..., visits: _Optional[int] = ..., spend_minor: _Optional[int] = ..., vouchers_redeemed: _Optional[int] = ..., free_sessions_used: _Optional[int] = ..., holdout_members: _Optional[int] = ..., holdout_members_visited: _Optional[int] = ..., holdout_visits: _Optional[int] = ..., holdout_spend_minor: _Optional[int] = ...) -> None: ...
