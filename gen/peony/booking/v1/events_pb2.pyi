import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.booking.v1 import appointments_pb2 as _appointments_pb2
from peony.booking.v1 import feedback_pb2 as _feedback_pb2
from peony.booking.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AppointmentServiceSummary(_message.Message):
    __slots__ = ("service", "display_name", "staff", "room", "equipment", "start_time", "end_time")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    service: str
    display_name: str
    staff: str
    room: str
    equipment: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., display_name: _Optional[str] = ..., staff: _Optional[str] = ..., room: _Optional[str] = ..., equipment: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AppointmentBooked(_message.Message):
    __slots__ = ("appointment", "member", "store", "channel", "services", "start_time", "end_time", "local_start", "time_zone", "wallet_hold", "waitlist_entry", "overridden_rules")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    WALLET_HOLD_FIELD_NUMBER: _ClassVar[int]
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    OVERRIDDEN_RULES_FIELD_NUMBER: _ClassVar[int]
    appointment: str
    member: str
    store: str
    channel: _appointments_pb2.BookingChannel
    services: _containers.RepeatedCompositeFieldContainer[AppointmentServiceSummary]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    local_start: str
    time_zone: str
    wallet_hold: str
    waitlist_entry: str
    overridden_rules: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, appointment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., channel: _Optional[_Union[_appointments_pb2.BookingChannel, str]] = ..., services: _Optional[_Iterable[_Union[AppointmentServiceSummary, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_start: _Optional[str] = ..., time_zone: _Optional[str] = ..., wallet_hold: _Optional[str] = ..., waitlist_entry: _Optional[str] = ..., overridden_rules: _Optional[_Iterable[str]] = ...) -> None: ...

class AppointmentRescheduled(_message.Message):
    __slots__ = ("appointment", "member", "store", "previous_start_time", "previous_local_start", "services", "start_time", "end_time", "local_start", "time_zone", "actor")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_START_TIME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    appointment: str
    member: str
    store: str
    previous_start_time: _timestamp_pb2.Timestamp
    previous_local_start: str
    services: _containers.RepeatedCompositeFieldContainer[AppointmentServiceSummary]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    local_start: str
    time_zone: str
    actor: _appointments_pb2.Actor
    def __init__(self, appointment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., previous_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_local_start: _Optional[str] = ..., services: _Optional[_Iterable[_Union[AppointmentServiceSummary, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_start: _Optional[str] = ..., time_zone: _Optional[str] = ..., actor: _Optional[_Union[_appointments_pb2.Actor, str]] = ...) -> None: ...

class AppointmentCancelled(_message.Message):
    __slots__ = ("appointment", "member", "store", "start_time", "local_start", "time_zone", "cancelled_by", "late_cancel", "staff", "services", "wallet_hold", "hold_state")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    LATE_CANCEL_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    WALLET_HOLD_FIELD_NUMBER: _ClassVar[int]
    HOLD_STATE_FIELD_NUMBER: _ClassVar[int]
    appointment: str
    member: str
    store: str
    start_time: _timestamp_pb2.Timestamp
    local_start: str
    time_zone: str
    cancelled_by: _appointments_pb2.Actor
    late_cancel: bool
    staff: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedScalarFieldContainer[str]
    wallet_hold: str
    hold_state: _appointments_pb2.AppointmentHoldState
    def __init__(self, appointment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_start: _Optional[str] = ..., time_zone: _Optional[str] = ..., cancelled_by: _Optional[_Union[_appointments_pb2.Actor, str]] = ..., late_cancel: _Optional[bool] = ..., staff: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[str]] = ..., wallet_hold: _Optional[str] = ..., hold_state: _Optional[_Union[_appointments_pb2.AppointmentHoldState, str]] = ...) -> None: ...

class AppointmentCheckedIn(_message.Message):
    __slots__ = ("appointment", "member", "store", "start_time", "check_in_time")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_TIME_FIELD_NUMBER: _ClassVar[int]
    appointment: str
    member: str
    store: str
    start_time: _timestamp_pb2.Timestamp
    check_in_time: _timestamp_pb2.Timestamp
    def __init__(self, appointment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., check_in_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AppointmentCompleted(_message.Message):
    __slots__ = ("appointment", "member", "store", "services", "start_time", "complete_time", "wallet_hold", "hold_state", "follow_ups")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    WALLET_HOLD_FIELD_NUMBER: _ClassVar[int]
    HOLD_STATE_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UPS_FIELD_NUMBER: _ClassVar[int]
    appointment: str
    member: str
    store: str
    services: _containers.RepeatedCompositeFieldContainer[AppointmentServiceSummary]
    start_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    wallet_hold: str
    hold_state: _appointments_pb2.AppointmentHoldState
    follow_ups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, appointment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., services: _Optional[_Iterable[_Union[AppointmentServiceSummary, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., wallet_hold: _Optional[str] = ..., hold_state: _Optional[_Union[_appointments_pb2.AppointmentHoldState, str]] = ..., follow_ups: _Optional[_Iterable[str]] = ...) -> None: ...

class AppointmentNoShow(_message.Message):
    __slots__ = ("appointment", "member", "store", "start_time", "no_shows_in_window", "restricted_until", "wallet_hold", "hold_state")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    NO_SHOWS_IN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    WALLET_HOLD_FIELD_NUMBER: _ClassVar[int]
    HOLD_STATE_FIELD_NUMBER: _ClassVar[int]
    appointment: str
    member: str
    store: str
    start_time: _timestamp_pb2.Timestamp
    no_shows_in_window: int
    restricted_until: _timestamp_pb2.Timestamp
    wallet_hold: str
    hold_state: _appointments_pb2.AppointmentHoldState
    def __init__(self, appointment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., no_shows_in_window: _Optional[int] = ..., restricted_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., wallet_hold: _Optional[str] = ..., hold_state: _Optional[_Union[_appointments_pb2.AppointmentHoldState, str]] = ...) -> None: ...

class BookingRestricted(_message.Message):
    __slots__ = ("member", "restricted_until", "no_shows_in_window", "appointment")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    NO_SHOWS_IN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    member: str
    restricted_until: _timestamp_pb2.Timestamp
    no_shows_in_window: int
    appointment: str
    def __init__(self, member: _Optional[str] = ..., restricted_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., no_shows_in_window: _Optional[int] = ..., appointment: _Optional[str] = ...) -> None: ...

class BookingRestrictionLifted(_message.Message):
    __slots__ = ("member", "restricted_until", "lift_time", "lifted_by", "reason")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    LIFT_TIME_FIELD_NUMBER: _ClassVar[int]
    LIFTED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member: str
    restricted_until: _timestamp_pb2.Timestamp
    lift_time: _timestamp_pb2.Timestamp
    lifted_by: str
    reason: str
    def __init__(self, member: _Optional[str] = ..., restricted_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lift_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lifted_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReminderDue(_message.Message):
    __slots__ = ("appointment", "member", "store", "services", "start_time", "local_start", "time_zone", "minutes_before")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    MINUTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    appointment: str
    member: str
    store: str
    services: _containers.RepeatedCompositeFieldContainer[AppointmentServiceSummary]
    start_time: _timestamp_pb2.Timestamp
    local_start: str
    time_zone: str
    minutes_before: int
    def __init__(self, appointment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., services: _Optional[_Iterable[_Union[AppointmentServiceSummary, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_start: _Optional[str] = ..., time_zone: _Optional[str] = ..., minutes_before: _Optional[int] = ...) -> None: ...

class FollowUpDue(_message.Message):
    __slots__ = ("follow_up", "service_plan", "member", "store", "source_appointment", "follow_up_service", "follow_up_service_display_name", "due_date", "time_zone")
    FOLLOW_UP_FIELD_NUMBER: _ClassVar[int]
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UP_SERVICE_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UP_SERVICE_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    follow_up: str
    service_plan: str
    member: str
    store: str
    source_appointment: str
    follow_up_service: str
    follow_up_service_display_name: str
    due_date: str
    time_zone: str
    def __init__(self, follow_up: _Optional[str] = ..., service_plan: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., source_appointment: _Optional[str] = ..., follow_up_service: _Optional[str] = ..., follow_up_service_display_name: _Optional[str] = ..., due_date: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class FollowUpResolved(_message.Message):
    __slots__ = ("follow_up", "service_plan", "member", "store", "outcome", "booked_appointment", "resolved_by", "resolve_time")
    FOLLOW_UP_FIELD_NUMBER: _ClassVar[int]
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    BOOKED_APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    follow_up: str
    service_plan: str
    member: str
    store: str
    outcome: _appointments_pb2.FollowUpOutcome
    booked_appointment: str
    resolved_by: str
    resolve_time: _timestamp_pb2.Timestamp
    def __init__(self, follow_up: _Optional[str] = ..., service_plan: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., outcome: _Optional[_Union[_appointments_pb2.FollowUpOutcome, str]] = ..., booked_appointment: _Optional[str] = ..., resolved_by: _Optional[str] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BookingPolicyUpdated(_message.Message):
    __slots__ = ("booking_policy", "changed_fields", "updated_by")
    BOOKING_POLICY_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELDS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    booking_policy: _appointments_pb2.BookingPolicy
    changed_fields: _containers.RepeatedScalarFieldContainer[str]
    updated_by: str
    def __init__(self, booking_policy: _Optional[_Union[_appointments_pb2.BookingPolicy, _Mapping]] = ..., changed_fields: _Optional[_Iterable[str]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class WaitlistOffered(_message.Message):
    __slots__ = ("waitlist_entry", "member", "store", "service", "staff", "start_time", "end_time", "local_start", "time_zone", "offer_expire_time")
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    OFFER_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    waitlist_entry: str
    member: str
    store: str
    service: str
    staff: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    local_start: str
    time_zone: str
    offer_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, waitlist_entry: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., service: _Optional[str] = ..., staff: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_start: _Optional[str] = ..., time_zone: _Optional[str] = ..., offer_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FeedbackSubmitted(_message.Message):
    __slots__ = ("feedback", "appointment", "member", "store", "staff", "rating", "has_comment")
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    HAS_COMMENT_FIELD_NUMBER: _ClassVar[int]
    feedback: str
    appointment: str
    member: str
    store: str
    staff: _containers.RepeatedScalarFieldContainer[str]
    rating: int
    has_comment: bool
    def __init__(self, feedback: _Optional[str] = ..., appointment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., staff: _Optional[_Iterable[str]] = ..., rating: _Optional[int] = ..., has_comment: _Optional[bool] = ...) -> None: ...

class ComplaintOpened(_message.Message):
    __slots__ = ("complaint", "member", "store", "appointment", "staff", "category", "channel", "first_response_due_time")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    complaint: str
    member: str
    store: str
    appointment: str
    staff: str
    category: _feedback_pb2.ComplaintCategory
    channel: _appointments_pb2.BookingChannel
    first_response_due_time: _timestamp_pb2.Timestamp
    def __init__(self, complaint: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., appointment: _Optional[str] = ..., staff: _Optional[str] = ..., category: _Optional[_Union[_feedback_pb2.ComplaintCategory, str]] = ..., channel: _Optional[_Union[_appointments_pb2.BookingChannel, str]] = ..., first_response_due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplaintSlaBreached(_message.Message):
    __slots__ = ("complaint", "member", "store", "category", "open_time", "first_response_due_time")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    OPEN_TIME_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    complaint: str
    member: str
    store: str
    category: _feedback_pb2.ComplaintCategory
    open_time: _timestamp_pb2.Timestamp
    first_response_due_time: _timestamp_pb2.Timestamp
    def __init__(self, complaint: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., category: _Optional[_Union[_feedback_pb2.ComplaintCategory, str]] = ..., open_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_response_due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplaintResolved(_message.Message):
    __slots__ = ("complaint", "member", "store", "open_time", "first_response_time", "resolve_time", "sla_breached")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    OPEN_TIME_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_FIELD_NUMBER: _ClassVar[int]
    complaint: str
    member: str
    store: str
    open_time: _timestamp_pb2.Timestamp
    first_response_time: _timestamp_pb2.Timestamp
    resolve_time: _timestamp_pb2.Timestamp
    sla_breached: bool
    def __init__(self, complaint: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., open_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_response_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sla_breached: _Optional[bool] = ...) -> None: ...

class StaffScheduleChanged(_message.Message):
    __slots__ = ("staff", "store", "time_zone", "active", "weekly_hours", "breaks")
    STAFF_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    WEEKLY_HOURS_FIELD_NUMBER: _ClassVar[int]
    BREAKS_FIELD_NUMBER: _ClassVar[int]
    staff: str
    store: str
    time_zone: str
    active: bool
    weekly_hours: _containers.RepeatedCompositeFieldContainer[_resources_pb2.WeeklyInterval]
    breaks: _containers.RepeatedCompositeFieldContainer[_resources_pb2.WeeklyInterval]
    def __init__(self, staff: _Optional[str] = ..., store: _Optional[str] = ..., time_zone: _Optional[str] = ..., active: _Optional[bool] = ..., weekly_hours: _Optional[_Iterable[_Union[_resources_pb2.WeeklyInterval, _Mapping]]] = ..., breaks: _Optional[_Iterable[_Union[_resources_pb2.WeeklyInterval, _Mapping]]] = ...) -> None: ...

class ScheduleExceptionChanged(_message.Message):
    __slots__ = ("schedule_exception", "staff", "store", "kind", "start_date", "end_date", "start_time", "end_time", "removed", "time_zone")
    SCHEDULE_EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    schedule_exception: str
    staff: str
    store: str
    kind: str
    start_date: str
    end_date: str
    start_time: str
    end_time: str
    removed: bool
    time_zone: str
    def __init__(self, schedule_exception: _Optional[str] = ..., staff: _Optional[str] = ..., store: _Optional[str] = ..., kind: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., start_time: _Optional[str] = ..., end_time: _Optional[str] = ..., removed: _Optional[bool] = ..., time_zone: _Optional[str] = ...) -> None: ...

class RoomChanged(_message.Message):
    __slots__ = ("room", "store", "room_type", "capacity", "active")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    ROOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    room: str
    store: str
    room_type: str
    capacity: int
    active: bool
    def __init__(self, room: _Optional[str] = ..., store: _Optional[str] = ..., room_type: _Optional[str] = ..., capacity: _Optional[int] = ..., active: _Optional[bool] = ...) -> None: ...
