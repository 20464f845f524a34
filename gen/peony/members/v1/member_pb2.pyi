import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.members.v1 import tier_pb2 as _tier_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Gender(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GENDER_UNSPECIFIED: _ClassVar[Gender]
    GENDER_FEMALE: _ClassVar[Gender]
    GENDER_MALE: _ClassVar[Gender]
    GENDER_OTHER: _ClassVar[Gender]

class RegistrationChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REGISTRATION_CHANNEL_UNSPECIFIED: _ClassVar[RegistrationChannel]
    REGISTRATION_CHANNEL_STORE: _ClassVar[RegistrationChannel]
    REGISTRATION_CHANNEL_ONLINE: _ClassVar[RegistrationChannel]
    REGISTRATION_CHANNEL_MINI_PROGRAM: _ClassVar[RegistrationChannel]
    REGISTRATION_CHANNEL_REFERRAL: _ClassVar[RegistrationChannel]

class MemberState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_STATE_UNSPECIFIED: _ClassVar[MemberState]
    MEMBER_STATE_ACTIVE: _ClassVar[MemberState]
    MEMBER_STATE_ERASED: _ClassVar[MemberState]
GENDER_UNSPECIFIED: Gender
GENDER_FEMALE: Gender
GENDER_MALE: Gender
GENDER_OTHER: Gender
REGISTRATION_CHANNEL_UNSPECIFIED: RegistrationChannel
REGISTRATION_CHANNEL_STORE: RegistrationChannel
REGISTRATION_CHANNEL_ONLINE: RegistrationChannel
REGISTRATION_CHANNEL_MINI_PROGRAM: RegistrationChannel
REGISTRATION_CHANNEL_REFERRAL: RegistrationChannel
MEMBER_STATE_UNSPECIFIED: MemberState
MEMBER_STATE_ACTIVE: MemberState
MEMBER_STATE_ERASED: MemberState

class Consent(_message.Message):
    __slots__ = ("marketing_sms", "marketing_wechat", "marketing_email", "update_time", "marketing_app_push", "transactional_sms_opt_out", "transactional_email_opt_out", "transactional_wechat_opt_out", "transactional_app_push_opt_out")
    MARKETING_SMS_FIELD_NUMBER: _ClassVar[int]
    MARKETING_WECHAT_FIELD_NUMBER: _ClassVar[int]
    MARKETING_EMAIL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MARKETING_APP_PUSH_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONAL_SMS_OPT_OUT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONAL_EMAIL_OPT_OUT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONAL_WECHAT_OPT_OUT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONAL_APP_PUSH_OPT_OUT_FIELD_NUMBER: _ClassVar[int]
    marketing_sms: bool
    marketing_wechat: bool
    marketing_email: bool
    update_time: _timestamp_pb2.Timestamp
    marketing_app_push: bool
    transactional_sms_opt_out: bool
    transactional_email_opt_out: bool
    transactional_wechat_opt_out: bool
    transactional_app_push_opt_out: bool
    def __init__(self, marketing_sms: _Optional[bool] = ..., marketing_wechat: _Optional[bool] = ..., marketing_email: _Optional[bool] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., marketing_app_push: _Optional[bool] = ..., transactional_sms_opt_out: _Optional[bool] = ..., transactional_email_opt_out: _Optional[bool] = ..., transactional_wechat_opt_out: _Optional[bool] = ..., transactional_app_push_opt_out: _Optional[bool] = ...) -> None: ...

class CareProfile(_message.Message):
    __slots__ = ("skin_type", "allergies", "past_treatments", "favourite_staff", "massage_style", "notes")
    SKIN_TYPE_FIELD_NUMBER: _ClassVar[int]
    ALLERGIES_FIELD_NUMBER: _ClassVar[int]
    PAST_TREATMENTS_FIELD_NUMBER: _ClassVar[int]
    FAVOURITE_STAFF_FIELD_NUMBER: _ClassVar[int]
    MASSAGE_STYLE_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    skin_type: str
    allergies: _containers.RepeatedScalarFieldContainer[str]
    past_treatments: _containers.RepeatedScalarFieldContainer[str]
    favourite_staff: str
    massage_style: str
    notes: str
    def __init__(self, skin_type: _Optional[str] = ..., allergies: _Optional[_Iterable[str]] = ..., past_treatments: _Optional[_Iterable[str]] = ..., favourite_staff: _Optional[str] = ..., massage_style: _Optional[str] = ..., notes: _Optional[str] = ...) -> None: ...

class MemberTier(_message.Message):
    __slots__ = ("tier_id", "display_name", "benefits", "since", "staff_override", "override_reason")
    TIER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BENEFITS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    STAFF_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    tier_id: str
    display_name: str
    benefits: _tier_pb2.TierBenefits
    since: _timestamp_pb2.Timestamp
    staff_override: bool
    override_reason: str
    def __init__(self, tier_id: _Optional[str] = ..., display_name: _Optional[str] = ..., benefits: _Optional[_Union[_tier_pb2.TierBenefits, _Mapping]] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., staff_override: _Optional[bool] = ..., override_reason: _Optional[str] = ...) -> None: ...

class Member(_message.Message):
    __slots__ = ("name", "member_number", "display_name", "gender", "phone", "email", "address", "birthday", "id_number", "photo_uri", "home_store", "registration_channel", "agreement_version", "consent", "tags", "custom_attributes", "care_profile", "referral_code", "referrer", "tier", "pii_masked", "state", "create_time", "update_time", "wechat_openid", "push_tokens", "locale")
    class CustomAttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_FIELD_NUMBER: _ClassVar[int]
    ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    PHOTO_URI_FIELD_NUMBER: _ClassVar[int]
    HOME_STORE_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CARE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    REFERRAL_CODE_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PII_MASKED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    WECHAT_OPENID_FIELD_NUMBER: _ClassVar[int]
    PUSH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    name: str
    member_number: str
    display_name: str
    gender: Gender
    phone: str
    email: str
    address: str
    birthday: str
    id_number: str
    photo_uri: str
    home_store: str
    registration_channel: RegistrationChannel
    agreement_version: str
    consent: Consent
    tags: _containers.RepeatedScalarFieldContainer[str]
    custom_attributes: _containers.ScalarMap[str, str]
    care_profile: CareProfile
    referral_code: str
    referrer: str
    tier: MemberTier
    pii_masked: bool
    state: MemberState
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    wechat_openid: str
    push_tokens: _containers.RepeatedScalarFieldContainer[str]
    locale: str
    def __init__(self, name: _Optional[str] = ..., member_number: _Optional[str] = ..., display_name: _Optional[str] = ..., gender: _Optional[_Union[Gender, str]] = ..., phone: _Optional[str] = ..., email: _Optional[str] = ..., address: _Optional[str] = ..., birthday: _Optional[str] = ..., id_number: _Optional[str] = ..., photo_uri: _Optional[str] = ..., home_store: _Optional[str] = ..., registration_channel: _Optional[_Union[RegistrationChannel, str]] = ..., agreement_version: _Optional[str] = ..., consent: _Optional[_Union[Consent, _Mapping]] = ..., tags: _Optional[_Iterable[str]] = ..., custom_attributes: _Optional[_Mapping[str, str]] = ..., care_profile: _Optional[_Union[CareProfile, _Mapping]] = ..., referral_code: _Optional[str] = ..., referrer: _Optional[str] = ..., tier: _Optional[_Union[MemberTier, _Mapping]] = ..., pii_masked: _Optional[bool] = ..., state: _Optional[_Union[MemberState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., wechat_openid: _Optional[str] = ..., push_tokens: _Optional[_Iterable[str]] = ..., locale: _Optional[str] = ...) -> None: ...
