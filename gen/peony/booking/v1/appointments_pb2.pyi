import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BookingChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BOOKING_CHANNEL_UNSPECIFIED: _ClassVar[BookingChannel]
    BOOKING_CHANNEL_PHONE: _ClassVar[BookingChannel]
    BOOKING_CHANNEL_STORE: _ClassVar[BookingChannel]
    BOOKING_CHANNEL_ONLINE: _ClassVar[BookingChannel]
    BOOKING_CHANNEL_MINI_PROGRAM: _ClassVar[BookingChannel]

class Actor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTOR_UNSPECIFIED: _ClassVar[Actor]
    ACTOR_MEMBER: _ClassVar[Actor]
    ACTOR_STAFF: _ClassVar[Actor]
    ACTOR_SYSTEM: _ClassVar[Actor]

class AppointmentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPOINTMENT_STATE_UNSPECIFIED: _ClassVar[AppointmentState]
    APPOINTMENT_STATE_BOOKED: _ClassVar[AppointmentState]
    APPOINTMENT_STATE_CHECKED_IN: _ClassVar[AppointmentState]
    APPOINTMENT_STATE_COMPLETED: _ClassVar[AppointmentState]
    APPOINTMENT_STATE_CANCELLED: _ClassVar[AppointmentState]
    APPOINTMENT_STATE_NO_SHOW: _ClassVar[AppointmentState]

class AppointmentHoldState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPOINTMENT_HOLD_STATE_UNSPECIFIED: _ClassVar[AppointmentHoldState]
    APPOINTMENT_HOLD_STATE_AUTHORIZED: _ClassVar[AppointmentHoldState]
    APPOINTMENT_HOLD_STATE_CAPTURED: _ClassVar[AppointmentHoldState]
    APPOINTMENT_HOLD_STATE_RELEASED: _ClassVar[AppointmentHoldState]
    APPOINTMENT_HOLD_STATE_EXPIRED: _ClassVar[AppointmentHoldState]

class HoldSettlement(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOLD_SETTLEMENT_UNSPECIFIED: _ClassVar[HoldSettlement]
    HOLD_SETTLEMENT_RELEASE: _ClassVar[HoldSettlement]
    HOLD_SETTLEMENT_CAPTURE: _ClassVar[HoldSettlement]

class ReminderState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REMINDER_STATE_UNSPECIFIED: _ClassVar[ReminderState]
    REMINDER_STATE_SCHEDULED: _ClassVar[ReminderState]
    REMINDER_STATE_FIRED: _ClassVar[ReminderState]
    REMINDER_STATE_SKIPPED: _ClassVar[ReminderState]
    REMINDER_STATE_CANCELLED: _ClassVar[ReminderState]

class FollowUpState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FOLLOW_UP_STATE_UNSPECIFIED: _ClassVar[FollowUpState]
    FOLLOW_UP_STATE_SCHEDULED: _ClassVar[FollowUpState]
    FOLLOW_UP_STATE_FIRED: _ClassVar[FollowUpState]
    FOLLOW_UP_STATE_SKIPPED: _ClassVar[FollowUpState]
    FOLLOW_UP_STATE_RESOLVED: _ClassVar[FollowUpState]

class FollowUpOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FOLLOW_UP_OUTCOME_UNSPECIFIED: _ClassVar[FollowUpOutcome]
    FOLLOW_UP_OUTCOME_REACHED: _ClassVar[FollowUpOutcome]
    FOLLOW_UP_OUTCOME_BOOKED: _ClassVar[FollowUpOutcome]
    FOLLOW_UP_OUTCOME_DECLINED: _ClassVar[FollowUpOutcome]
    FOLLOW_UP_OUTCOME_UNREACHABLE: _ClassVar[FollowUpOutcome]
BOOKING_CHANNEL_UNSPECIFIED: BookingChannel
BOOKING_CHANNEL_PHONE: BookingChannel
BOOKING_CHANNEL_STORE: BookingChannel
BOOKING_CHANNEL_ONLINE: BookingChannel
BOOKING_CHANNEL_MINI_PROGRAM: BookingChannel
ACTOR_UNSPECIFIED: Actor
ACTOR_MEMBER: Actor
ACTOR_STAFF: Actor
ACTOR_SYSTEM: Actor
APPOINTMENT_STATE_UNSPECIFIED: AppointmentState
APPOINTMENT_STATE_BOOKED: AppointmentState
APPOINTMENT_STATE_CHECKED_IN: AppointmentState
APPOINTMENT_STATE_COMPLETED: AppointmentState
APPOINTMENT_STATE_CANCELLED: AppointmentState
APPOINTMENT_STATE_NO_SHOW: AppointmentState
APPOINTMENT_HOLD_STATE_UNSPECIFIED: AppointmentHoldState
APPOINTMENT_HOLD_STATE_AUTHORIZED: AppointmentHoldState
APPOINTMENT_HOLD_STATE_CAPTURED: AppointmentHoldState
APPOINTMENT_HOLD_STATE_RELEASED: AppointmentHoldState
APPOINTMENT_HOLD_STATE_EXPIRED: AppointmentHoldState
HOLD_SETTLEMENT_UNSPECIFIED: HoldSettlement
HOLD_SETTLEMENT_RELEASE: HoldSettlement
HOLD_SETTLEMENT_CAPTURE: HoldSettlement
REMINDER_STATE_UNSPECIFIED: ReminderState
REMINDER_STATE_SCHEDULED: ReminderState
REMINDER_STATE_FIRED: ReminderState
REMINDER_STATE_SKIPPED: ReminderState
REMINDER_STATE_CANCELLED: ReminderState
FOLLOW_UP_STATE_UNSPECIFIED: FollowUpState
FOLLOW_UP_STATE_SCHEDULED: FollowUpState
FOLLOW_UP_STATE_FIRED: FollowUpState
FOLLOW_UP_STATE_SKIPPED: FollowUpState
FOLLOW_UP_STATE_RESOLVED: FollowUpState
FOLLOW_UP_OUTCOME_UNSPECIFIED: FollowUpOutcome
FOLLOW_UP_OUTCOME_REACHED: FollowUpOutcome
FOLLOW_UP_OUTCOME_BOOKED: FollowUpOutcome
FOLLOW_UP_OUTCOME_DECLINED: FollowUpOutcome
FOLLOW_UP_OUTCOME_UNREACHABLE: FollowUpOutcome

class BookedService(_message.Message):
    __slots__ = ("service", "display_name", "staff", "room", "equipment", "start_time", "end_time", "reserved_start_time", "reserved_end_time", "list_price_minor")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    RESERVED_START_TIME_FIELD_NUMBER: _ClassVar[int]
    RESERVED_END_TIME_FIELD_NUMBER: _ClassVar[int]
    LIST_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    service: str
    display_name: str
    staff: str
    room: str
    equipment: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    reserved_start_time: _timestamp_pb2.Timestamp
    reserved_end_time: _timestamp_pb2.Timestamp
    list_price_minor: int
    def __init__(self, service: _Optional[str] = ..., display_name: _Optional[str] = ..., staff: _Optional[str] = ..., room: _Optional[str] = ..., equipment: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reserved_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reserved_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., list_price_minor: _Optional[int] = ...) -> None: ...

class DepositHold(_message.Message):
    __slots__ = ("amount_minor", "currency_code")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency_code: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...

class PackageSessionHold(_message.Message):
    __slots__ = ("package", "service", "sessions")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    package: str
    service: str
    sessions: int
    def __init__(self, package: _Optional[str] = ..., service: _Optional[str] = ..., sessions: _Optional[int] = ...) -> None: ...

class WalletHoldSpec(_message.Message):
    __slots__ = ("deposit", "package_session", "payment_pin")
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SESSION_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_PIN_FIELD_NUMBER: _ClassVar[int]
    deposit: DepositHold
    package_session: PackageSessionHold
    payment_pin: str
    def __init__(self, deposit: _Optional[_Union[DepositHold, _Mapping]] = ..., package_session: _Optional[_Union[PackageSessionHold, _Mapping]] = ..., payment_pin: _Optional[str] = ...) -> None: ...

class AppointmentHold(_message.Message):
    __slots__ = ("hold", "amount_minor", "currency_code", "package", "service", "sessions", "state")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    hold: str
    amount_minor: int
    currency_code: str
    package: str
    service: str
    sessions: int
    state: AppointmentHoldState
    def __init__(self, hold: _Optional[str] = ..., amount_minor: _Optional[int] = ..., currency_code: _Optional[str] = ..., package: _Optional[str] = ..., service: _Optional[str] = ..., sessions: _Optional[int] = ..., state: _Optional[_Union[AppointmentHoldState, str]] = ...) -> None: ...

class ScheduledReminder(_message.Message):
    __slots__ = ("minutes_before", "due_time", "state")
    MINUTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    minutes_before: int
    due_time: _timestamp_pb2.Timestamp
    state: ReminderState
    def __init__(self, minutes_before: _Optional[int] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[ReminderState, str]] = ...) -> None: ...

class Appointment(_message.Message):
    __slots__ = ("name", "member", "store", "channel", "state", "services", "start_time", "end_time", "local_start", "local_end", "time_zone", "list_price_minor", "currency_code", "notes", "wallet_hold", "reminders", "waitlist_entry", "booked_by", "overridden_rules", "override_reason", "reschedule_count", "check_in_time", "complete_time", "cancel_time", "cancelled_by", "cancel_reason", "late_cancel", "late_cancel_waived", "no_show_time", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    LOCAL_END_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    LIST_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    WALLET_HOLD_FIELD_NUMBER: _ClassVar[int]
    REMINDERS_FIELD_NUMBER: _ClassVar[int]
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    BOOKED_BY_FIELD_NUMBER: _ClassVar[int]
    OVERRIDDEN_RULES_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    RESCHEDULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REASON_FIELD_NUMBER: _ClassVar[int]
    LATE_CANCEL_FIELD_NUMBER: _ClassVar[int]
    LATE_CANCEL_WAIVED_FIELD_NUMBER: _ClassVar[int]
    NO_SHOW_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    member: str
    store: str
    channel: BookingChannel
    state: AppointmentState
    services: _containers.RepeatedCompositeFieldContainer[BookedService]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    local_start: str
    local_end: str
    time_zone: str
    list_price_minor: int
    currency_code: str
    notes: str
    wallet_hold: AppointmentHold
    reminders: _containers.RepeatedCompositeFieldContainer[ScheduledReminder]
    waitlist_entry: str
    booked_by: str
    overridden_rules: _containers.RepeatedScalarFieldContainer[str]
    override_reason: str
    reschedule_count: int
    check_in_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    cancel_time: _timestamp_pb2.Timestamp
    cancelled_by: Actor
    cancel_reason: str
    late_cancel: bool
    late_cancel_waived: bool
    no_show_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., channel: _Optional[_Union[BookingChannel, str]] = ..., state: _Optional[_Union[AppointmentState, str]] = ..., services: _Optional[_Iterable[_Union[BookedService, _Mapping]]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_start: _Optional[str] = ..., local_end: _Optional[str] = ..., time_zone: _Optional[str] = ..., list_price_minor: _Optional[int] = ..., currency_code: _Optional[str] = ..., notes: _Optional[str] = ..., wallet_hold: _Optional[_Union[AppointmentHold, _Mapping]] = ..., reminders: _Optional[_Iterable[_Union[ScheduledReminder, _Mapping]]] = ..., waitlist_entry: _Optional[str] = ..., booked_by: _Optional[str] = ..., overridden_rules: _Optional[_Iterable[str]] = ..., override_reason: _Optional[str] = ..., reschedule_count: _Optional[int] = ..., check_in_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancelled_by: _Optional[_Union[Actor, str]] = ..., cancel_reason: _Optional[str] = ..., late_cancel: _Optional[bool] = ..., late_cancel_waived: _Optional[bool] = ..., no_show_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BookingPolicy(_message.Message):
    __slots__ = ("name", "cancel_free_minutes_before", "no_show_limit", "no_show_window_days", "no_show_restriction_days", "count_late_cancels_as_no_shows", "reminder_minutes_before", "waitlist_offer_minutes", "complaint_first_response_minutes", "max_open_appointments", "default_booking_window_days", "min_lead_minutes", "slot_step_minutes", "no_show_grace_minutes", "capture_deposit_on_late_cancel", "capture_deposit_on_no_show", "capture_session_on_late_cancel", "capture_session_on_no_show", "hold_grace_hours", "follow_up_remind_time", "feedback_window_days", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FREE_MINUTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NO_SHOW_LIMIT_FIELD_NUMBER: _ClassVar[int]
    NO_SHOW_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    NO_SHOW_RESTRICTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    COUNT_LATE_CANCELS_AS_NO_SHOWS_FIELD_NUMBER: _ClassVar[int]
    REMINDER_MINUTES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    WAITLIST_OFFER_MINUTES_FIELD_NUMBER: _ClassVar[int]
    COMPLAINT_FIRST_RESPONSE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    MAX_OPEN_APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_BOOKING_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    MIN_LEAD_MINUTES_FIELD_NUMBER: _ClassVar[int]
    SLOT_STEP_MINUTES_FIELD_NUMBER: _ClassVar[int]
    NO_SHOW_GRACE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_DEPOSIT_ON_LATE_CANCEL_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_DEPOSIT_ON_NO_SHOW_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_SESSION_ON_LATE_CANCEL_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_SESSION_ON_NO_SHOW_FIELD_NUMBER: _ClassVar[int]
    HOLD_GRACE_HOURS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UP_REMIND_TIME_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    cancel_free_minutes_before: int
    no_show_limit: int
    no_show_window_days: int
    no_show_restriction_days: int
    count_late_cancels_as_no_shows: bool
    reminder_minutes_before: _containers.RepeatedScalarFieldContainer[int]
    waitlist_offer_minutes: int
    complaint_first_response_minutes: int
    max_open_appointments: int
    default_booking_window_days: int
    min_lead_minutes: int
    slot_step_minutes: int
    no_show_grace_minutes: int
    capture_deposit_on_late_cancel: bool
    capture_deposit_on_no_show: bool
    capture_session_on_late_cancel: bool
    capture_session_on_no_show: bool
    hold_grace_hours: int
    follow_up_remind_time: str
    feedback_window_days: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., cancel_free_minutes_before: _Optional[int] = ..., no_show_limit: _Optional[int] = ..., no_show_window_days: _Optional[int] = ..., no_show_restriction_days: _Optional[int] = ..., count_late_cancels_as_no_shows: _Optional[bool] = ..., reminder_minutes_before: _Optional[_Iterable[int]] = ..., waitlist_offer_minutes: _Optional[int] = ..., complaint_first_response_minutes: _Optional[int] = ..., max_open_appointments: _Optional[int] = ..., default_booking_window_days: _Optional[int] = ..., min_lead_minutes: _Optional[int] = ..., slot_step_minutes: _Optional[int] = ..., no_show_grace_minutes: _Optional[int] = ..., capture_deposit_on_late_cancel: _Optional[bool] = ..., capture_deposit_on_no_show: _Optional[bool] = ..., capture_session_on_late_cancel: _Optional[bool] = ..., capture_session_on_no_show: _Optional[bool] = ..., hold_grace_hours: _Optional[int] = ..., follow_up_remind_time: _Optional[str] = ..., feedback_window_days: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BookingStanding(_message.Message):
    __slots__ = ("name", "tier_id", "booking_window_days", "bookable_until", "no_shows_in_window", "late_cancels_in_window", "restricted_until", "restriction_lift_time", "restriction_lift_reason", "open_appointments", "max_open_appointments")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_ID_FIELD_NUMBER: _ClassVar[int]
    BOOKING_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    BOOKABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    NO_SHOWS_IN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    LATE_CANCELS_IN_WINDOW_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    RESTRICTION_LIFT_TIME_FIELD_NUMBER: _ClassVar[int]
    RESTRICTION_LIFT_REASON_FIELD_NUMBER: _ClassVar[int]
    OPEN_APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_OPEN_APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tier_id: str
    booking_window_days: int
    bookable_until: _timestamp_pb2.Timestamp
    no_shows_in_window: int
    late_cancels_in_window: int
    restricted_until: _timestamp_pb2.Timestamp
    restriction_lift_time: _timestamp_pb2.Timestamp
    restriction_lift_reason: str
    open_appointments: int
    max_open_appointments: int
    def __init__(self, name: _Optional[str] = ..., tier_id: _Optional[str] = ..., booking_window_days: _Optional[int] = ..., bookable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., no_shows_in_window: _Optional[int] = ..., late_cancels_in_window: _Optional[int] = ..., restricted_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restriction_lift_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., restriction_lift_reason: _Optional[str] = ..., open_appointments: _Optional[int] = ..., max_open_appointments: _Optional[int] = ...) -> None: ...

class ServicePlan(_message.Message):
    __slots__ = ("name", "display_name", "trigger_service", "follow_up_service", "follow_up_after_days", "remind_days_before", "active", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_SERVICE_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UP_SERVICE_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UP_AFTER_DAYS_FIELD_NUMBER: _ClassVar[int]
    REMIND_DAYS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    trigger_service: str
    follow_up_service: str
    follow_up_after_days: int
    remind_days_before: int
    active: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., trigger_service: _Optional[str] = ..., follow_up_service: _Optional[str] = ..., follow_up_after_days: _Optional[int] = ..., remind_days_before: _Optional[int] = ..., active: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FollowUp(_message.Message):
    __slots__ = ("name", "service_plan", "member", "store", "source_appointment", "follow_up_service", "due_date", "remind_time", "state", "resolve_time", "create_time", "outcome", "outcome_time", "resolved_by", "booked_appointment")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UP_SERVICE_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    REMIND_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_TIME_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    BOOKED_APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    service_plan: str
    member: str
    store: str
    source_appointment: str
    follow_up_service: str
    due_date: str
    remind_time: _timestamp_pb2.Timestamp
    state: FollowUpState
    resolve_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    outcome: FollowUpOutcome
    outcome_time: _timestamp_pb2.Timestamp
    resolved_by: str
    booked_appointment: str
    def __init__(self, name: _Optional[str] = ..., service_plan: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., source_appointment: _Optional[str] = ..., follow_up_service: _Optional[str] = ..., due_date: _Optional[str] = ..., remind_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[FollowUpState, str]] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[_Union[FollowUpOutcome, str]] = ..., outcome_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., resolved_by: _Optional[str] = ..., booked_appointment: _Optional[str] = ...) -> None: ...
