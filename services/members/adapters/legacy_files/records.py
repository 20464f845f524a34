"""One mapped row of a legacy export -> a validated record, or the row's errors.

Pure: no database. What only a database can decide (a phone or card number another member already
has, a store that does not exist) is checked by the import adapters and reported the same way.
Money is read as a decimal number of yuan (``1,234.50``, ``¥88``) and kept in fen; nothing is
ever a float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from kit.ids import is_resource_id
from services.members.adapters.legacy_files.mapping import Mapping
from services.members.domain import values
from services.members.domain.cards import valid_card_number
from services.wallet.domain.ledger import MAX_AMOUNT
from services.wallet.domain.packages import MAX_SESSIONS

MAX_NAME = 100
MAX_NOTES = 500
MAX_PACKAGE_ITEMS = 20
CHINA = ZoneInfo("Asia/Shanghai")

# reason code -> (zh, en): the error report speaks the file's language.
REASONS = {
    "REQUIRED": ("必填项为空", "required value is empty"),
    "INVALID_CARD_NUMBER": (
        "卡号应为4-32位字母、数字或'-'",
        "card number must be 4-32 letters, digits or '-'",
    ),
    "INVALID_PHONE": ("手机号格式错误", "not a mobile number"),
    "INVALID_DATE": ("日期格式错误", "not a date"),
    "INVALID_BIRTHDAY": ("生日不是过去的有效日期", "birthday is not a past date"),
    "INVALID_AMOUNT": (
        "金额应为不小于0的数字，最多两位小数",
        "amount must be a number >= 0 with at most 2 decimals",
    ),
    "AMOUNT_TOO_LARGE": ("金额超出上限", "amount is too large"),
    "INVALID_POINTS": ("积分应为不小于0的整数", "points must be a whole number >= 0"),
    "UNKNOWN_TIER": ("未知等级（请在映射文件 tiers 中配置）", "unknown tier (add it to the mapping's tiers)"),
    "UNKNOWN_STORE": ("门店不存在（请先导入门店）", "no such store (import the stores first)"),
    "INVALID_PACKAGE": (
        "疗程卡格式应为 项目:次数[:到期日]，以;分隔",
        "packages must be item:sessions[:expiry], separated by ;",
    ),
    "UNKNOWN_ITEM": (
        "未知疗程项目（请在映射文件 services 中配置）",
        "unknown package item (add it to the mapping's services)",
    ),
    "INVALID_SESSIONS": (
        f"剩余次数应为1-{MAX_SESSIONS}的整数",
        f"sessions must be a whole number 1-{MAX_SESSIONS}",
    ),
    "TEXT_TOO_LONG": ("内容过长", "text is too long"),
    "CONTROL_CHARACTER": ("含有不可见控制字符", "contains a control character"),
    "DUPLICATE_CARD_NUMBER": ("卡号重复（已有会员使用此卡号）", "card number already belongs to a member"),
    "PHONE_TAKEN": ("手机号已被其他会员使用", "phone already belongs to another member"),
    "INVALID_TIME_ZONE": (
        "时区应为IANA时区，如 Asia/Shanghai",
        "time zone must be an IANA zone such as Asia/Shanghai",
    ),
    "INVALID_STORE_ID": (
        "门店编号应为1-63位小写字母、数字或'-'",
        "store id must be 1-63 lowercase letters, digits or '-'",
    ),
    "STORE_EXISTS": ("门店编号已存在且名称不同", "store id exists with another name"),
    "INVALID_VOUCHER_CODE": (
        "券号应为4-32位字母、数字或'-'",
        "voucher code must be 4-32 letters, digits or '-'",
    ),
    "AMOUNT_REQUIRED": ("面额必须大于0", "amount must be greater than 0"),
    "UNKNOWN_CARD": (
        "卡号不存在（请先导入会员）",
        "no member has this card number (import the members first)",
    ),
    "DUPLICATE_VOUCHER_CODE": ("券号已存在", "voucher code already exists"),
}


def reason_text(code: str, language: str) -> str:
    zh, en = REASONS[code]
    return zh if language == "zh" else en


@dataclass(frozen=True)
class RowError:
    row: int
    column: str  # the file's own header
    code: str


@dataclass(frozen=True)
class PackageLine:
    service_id: str
    display_name: str
    sessions: int
    expire_time: datetime | None


@dataclass
class MemberRecord:
    row: int
    card_number: str
    legacy_numbers: tuple[str, ...]
    name: str
    phone: str  # E.164
    birthday: str  # YYYY-MM-DD or ""
    tier_id: str  # "" = the tenant's entry tier
    store_ref: str  # store id or name, resolved by the members adapter
    notes: str
    principal_minor: int = 0
    bonus_minor: int = 0
    points: int = 0
    points_expire_time: datetime | None = None
    packages: list[PackageLine] = field(default_factory=list)

    @property
    def sessions(self) -> int:
        return sum(p.sessions for p in self.packages)


@dataclass
class VoucherRecord:
    row: int
    card_number: str
    code: str
    name: str
    amount_minor: int
    min_spend_minor: int
    valid_until: datetime | None  # exclusive: the instant after the file's last valid day


@dataclass
class StoreRecord:
    row: int
    store_id: str
    name: str
    time_zone: str
    address: str


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class _Row:
    """Reads one row's mapped cells, collecting errors by the file's column name."""

    def __init__(self, number: int, cells: dict[str, str], mapping: Mapping):
        self.number, self.cells, self.mapping = number, cells, mapping
        self.errors: list[RowError] = []

    def column(self, name: str) -> str:
        return self.mapping.columns.get(name, name)

    def error(self, name: str, code: str) -> None:
        self.errors.append(RowError(self.number, self.column(name), code))

    def text(self, name: str, *, required: bool = False, limit: int = 200) -> str:
        header = self.mapping.columns.get(name)
        value = (self.cells.get(header, "") if header else "").strip()
        if required and not value:
            self.error(name, "REQUIRED")
        elif len(value) > limit:
            self.error(name, "TEXT_TOO_LONG")
            return ""
        elif _CONTROL.search(value):
            self.error(name, "CONTROL_CHARACTER")
            return ""
        return value

    def money(self, name: str) -> int:
        raw = self.text(name)
        compact = re.sub(r"[\s,¥￥元]", "", raw)
        if not compact:
            return 0
        try:
            amount = Decimal(compact)
        except InvalidOperation:
            self.error(name, "INVALID_AMOUNT")
            return 0
        fen = amount * 100
        if not amount.is_finite() or amount < 0 or fen != fen.to_integral_value():
            self.error(name, "INVALID_AMOUNT")
            return 0
        if fen > MAX_AMOUNT:
            self.error(name, "AMOUNT_TOO_LARGE")
            return 0
        return int(fen)

    def whole(self, name: str) -> int:
        compact = re.sub(r"[\s,]", "", self.text(name))
        if not compact:
            return 0
        if not compact.isdigit():
            self.error(name, "INVALID_POINTS")
            return 0
        value = int(compact)
        if value > MAX_AMOUNT:
            self.error(name, "AMOUNT_TOO_LARGE")
            return 0
        return value

    def date(self, name: str, raw: str | None = None) -> date | None:
        raw = self.text(name) if raw is None else raw.strip()
        if not raw:
            return None
        return parse_date(raw, self.mapping.date_formats)


def parse_date(raw: str, formats: tuple[str, ...]) -> date | None:
    for fmt in formats:
        try:
            return datetime.strptime(raw, fmt).date()  # a calendar date, no time
        except ValueError:
            continue
    return None


def end_of_day(d: date) -> datetime:
    """An expiry date in the file means "valid through that day" (China time): the instant after."""
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=CHINA).astimezone(UTC)


_PACKAGE_SPLIT = re.compile(r"[;；|]")
_PACKAGE_PART = re.compile(r"[:：*×]")


def member_record(number: int, cells: dict[str, str], mapping: Mapping) -> MemberRecord | list[RowError]:
    r = _Row(number, cells, mapping)
    card = r.text("card_number", required=True, limit=32)
    if card and not valid_card_number(card):
        r.error("card_number", "INVALID_CARD_NUMBER")
    legacy = r.text("legacy_card_number", limit=32)
    if legacy and not valid_card_number(legacy):
        r.error("legacy_card_number", "INVALID_CARD_NUMBER")
    name = r.text("name", required=True, limit=MAX_NAME)
    raw_phone = r.text("phone", required=True, limit=32)
    phone = values.normalise_phone(raw_phone) if raw_phone else None
    if raw_phone and phone is None:
        r.error("phone", "INVALID_PHONE")
    birthday = ""
    raw_birthday = r.text("birthday", limit=32)
    if raw_birthday:
        d = r.date("birthday", raw_birthday)
        if d is None:
            r.error("birthday", "INVALID_DATE")
        elif values.parse_birthday(d.isoformat()) is None:
            r.error("birthday", "INVALID_BIRTHDAY")
        else:
            birthday = d.isoformat()
    tier_label = r.text("tier", limit=40)
    tier_id = ""
    if tier_label:
        tier_id = mapping.tiers.get(tier_label, "")
        if not tier_id:
            r.error("tier", "UNKNOWN_TIER")
    store_ref = r.text("store", required=True, limit=200)
    notes = r.text("notes", limit=MAX_NOTES)
    principal = r.money("principal")
    bonus = r.money("bonus")
    points = r.whole("points")
    raw_expiry = r.text("points_expire", limit=32)
    points_expire = None
    if raw_expiry:
        d = r.date("points_expire", raw_expiry)
        if d is None:
            r.error("points_expire", "INVALID_DATE")
        else:
            points_expire = end_of_day(d)
    packages = _packages(r, r.text("packages", limit=2000))
    if r.errors:
        return r.errors
    return MemberRecord(
        row=number,
        card_number=card,
        legacy_numbers=tuple(dict.fromkeys(n for n in (card, legacy) if n)),
        name=name,
        phone=phone or "",
        birthday=birthday,
        tier_id=tier_id,
        store_ref=store_ref,
        notes=notes,
        principal_minor=principal,
        bonus_minor=bonus,
        points=points,
        points_expire_time=points_expire,
        packages=packages,
    )


def _packages(r: _Row, raw: str) -> list[PackageLine]:
    lines: list[PackageLine] = []
    if not raw:
        return lines
    parts = [p.strip() for p in _PACKAGE_SPLIT.split(raw) if p.strip()]
    if len(parts) > MAX_PACKAGE_ITEMS:
        r.error("packages", "TEXT_TOO_LONG")
        return []
    seen: set[str] = set()
    for part in parts:
        fields = [f.strip() for f in _PACKAGE_PART.split(part, maxsplit=2)]
        if len(fields) < 2 or not fields[0]:
            r.error("packages", "INVALID_PACKAGE")
            return []
        item, count = fields[0], fields[1]
        service = r.mapping.services.get(item)
        if not service:
            r.error("packages", "UNKNOWN_ITEM")
            return []
        if service in seen:  # a card holds each service once; the file should add them up
            r.error("packages", "INVALID_PACKAGE")
            return []
        seen.add(service)
        if not count.isdigit() or not 1 <= int(count) <= MAX_SESSIONS:
            r.error("packages", "INVALID_SESSIONS")
            return []
        expire = None
        if len(fields) == 3 and fields[2]:
            d = parse_date(fields[2], r.mapping.date_formats)
            if d is None:
                r.error("packages", "INVALID_DATE")
                return []
            expire = end_of_day(d)
        lines.append(PackageLine(f"services/{service}", item, int(count), expire))
    return lines


def store_record(number: int, cells: dict[str, str], mapping: Mapping) -> StoreRecord | list[RowError]:
    r = _Row(number, cells, mapping)
    store_id = r.text("store_id", required=True, limit=64)
    if store_id and not is_resource_id(store_id):
        r.error("store_id", "INVALID_STORE_ID")
    name = r.text("name", required=True, limit=200)
    time_zone = r.text("time_zone", limit=64) or "Asia/Shanghai"
    if not values.valid_time_zone(time_zone):
        r.error("time_zone", "INVALID_TIME_ZONE")
    address = r.text("address", limit=values.MAX_TEXT)
    if r.errors:
        return r.errors
    return StoreRecord(number, store_id, name, time_zone, address)


def voucher_record(number: int, cells: dict[str, str], mapping: Mapping) -> VoucherRecord | list[RowError]:
    r = _Row(number, cells, mapping)
    card = r.text("card_number", required=True, limit=32)
    if card and not valid_card_number(card):
        r.error("card_number", "INVALID_CARD_NUMBER")
    code = r.text("code", required=True, limit=32)
    if code and not valid_card_number(code):
        r.error("code", "INVALID_VOUCHER_CODE")
    name = r.text("name", limit=100)
    amount = r.money("amount")
    if not amount and not any(e.column == r.column("amount") for e in r.errors):
        r.error("amount", "AMOUNT_REQUIRED")
    min_spend = r.money("min_spend")
    valid_until = None
    raw = r.text("valid_until", limit=32)
    if raw:
        d = r.date("valid_until", raw)
        if d is None:
            r.error("valid_until", "INVALID_DATE")
        else:
            valid_until = end_of_day(d)
    if r.errors:
        return r.errors
    return VoucherRecord(number, card, code, name, amount, min_spend, valid_until)
