"""`peony import`'s pure parts: reading CSV (UTF-8, BOM, GB18030) and XLSX as streams, the YAML
mapping, and turning a row into a record or the row's errors — hostile cells included."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.members.adapters.legacy_files import readers
from services.members.adapters.legacy_files.mapping import MappingError, load_mapping, shipped
from services.members.adapters.legacy_files.records import (
    MemberRecord,
    member_record,
    reason_text,
    store_record,
)

ZH = load_mapping(shipped("yikayi_zh"), "members")
EN = load_mapping(shipped("generic_en"), "members")


def _row(**cells: str) -> dict[str, str]:
    base = {"会员卡号": "VIP001", "姓名": "王芳", "手机": "13912345678", "开卡门店": "旗舰店"}
    base.update(cells)
    return base


def _codes(result) -> list[tuple[str, str]]:
    assert isinstance(result, list), result
    return [(e.column, e.code) for e in result]


def test_a_good_row_keeps_every_amount_exact_in_fen():
    r = member_record(
        2,
        _row(
            一卡通号="YKT9",
            储值余额="1,234.56",
            赠送余额="¥88",
            积分="12,000",
            积分到期日="2027/06/30",
            生日="1990.05.17",
            等级="金卡",
            **{"疗程卡项目/剩余次数": "面部护理:10:2027-12-31；颈部护理*5"},  # noqa: RUF001 - a fullwidth separator, on purpose
        ),
        ZH,
    )
    assert isinstance(r, MemberRecord)
    assert (r.principal_minor, r.bonus_minor, r.points) == (123456, 8800, 12000)
    assert r.phone == "+8613912345678"
    assert r.birthday == "1990-05-17"
    assert r.tier_id == "gold"
    assert r.legacy_numbers == ("VIP001", "YKT9")
    assert [(p.service_id, p.sessions) for p in r.packages] == [
        ("services/facial", 10),
        ("services/neck-care", 5),
    ]
    assert r.sessions == 15
    # "valid through 2027-06-30" in China: expires at the next midnight there
    assert r.points_expire_time == datetime(2027, 6, 30, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"储值余额": "12.345"}, ("储值余额", "INVALID_AMOUNT")),
        ({"储值余额": "-1"}, ("储值余额", "INVALID_AMOUNT")),
        ({"储值余额": "NaN"}, ("储值余额", "INVALID_AMOUNT")),
        ({"储值余额": "Infinity"}, ("储值余额", "INVALID_AMOUNT")),
        ({"储值余额": "abc"}, ("储值余额", "INVALID_AMOUNT")),
        ({"赠送余额": "99999999999"}, ("赠送余额", "AMOUNT_TOO_LARGE")),
        ({"积分": "1.5"}, ("积分", "INVALID_POINTS")),
        ({"积分": "-3"}, ("积分", "INVALID_POINTS")),
        ({"手机": "12345"}, ("手机", "INVALID_PHONE")),
        ({"手机": ""}, ("手机", "REQUIRED")),
        ({"姓名": "  "}, ("姓名", "REQUIRED")),
        ({"姓名": "王" * 101}, ("姓名", "TEXT_TOO_LONG")),
        ({"姓名": "王\x00芳"}, ("姓名", "CONTROL_CHARACTER")),
        ({"会员卡号": "卡 号!"}, ("会员卡号", "INVALID_CARD_NUMBER")),
        ({"生日": "1990-13-45"}, ("生日", "INVALID_DATE")),
        ({"生日": "2999-01-01"}, ("生日", "INVALID_BIRTHDAY")),
        ({"等级": "黑卡"}, ("等级", "UNKNOWN_TIER")),
        ({"积分到期日": "soon"}, ("积分到期日", "INVALID_DATE")),
        ({"疗程卡项目/剩余次数": "未知项目:3"}, ("疗程卡项目/剩余次数", "UNKNOWN_ITEM")),
        ({"疗程卡项目/剩余次数": "面部护理:0"}, ("疗程卡项目/剩余次数", "INVALID_SESSIONS")),
        ({"疗程卡项目/剩余次数": "面部护理:10001"}, ("疗程卡项目/剩余次数", "INVALID_SESSIONS")),
        ({"疗程卡项目/剩余次数": "面部护理"}, ("疗程卡项目/剩余次数", "INVALID_PACKAGE")),
        ({"疗程卡项目/剩余次数": "面部护理:1;面部护理:2"}, ("疗程卡项目/剩余次数", "INVALID_PACKAGE")),
        ({"疗程卡项目/剩余次数": "面部护理:2:tomorrow"}, ("疗程卡项目/剩余次数", "INVALID_DATE")),
        ({"疗程卡项目/剩余次数": ";".join(["面部护理:1"] * 21)}, ("疗程卡项目/剩余次数", "TEXT_TOO_LONG")),
        ({"备注": "x" * 501}, ("备注", "TEXT_TOO_LONG")),
    ],
)
def test_each_bad_cell_is_reported_by_its_column_and_reason(cells, expected):
    assert _codes(member_record(7, _row(**cells), ZH)) == [expected]


def test_errors_are_in_the_files_language_and_name_the_files_columns():
    row = {"Card Number": "C0001", "Name": "Ann", "Mobile": "x", "Home Store": "s1"}
    [error] = member_record(3, row, EN)
    assert (error.row, error.column, error.code) == (3, "Mobile", "INVALID_PHONE")
    assert reason_text("INVALID_PHONE", "en") == "not a mobile number"
    assert reason_text("INVALID_PHONE", "zh") == "手机号格式错误"


def test_a_store_row_needs_a_resource_id_and_an_iana_zone():
    ok = store_record(2, {"门店编号": "flagship", "门店名称": "旗舰店", "时区": "", "地址": ""}, _stores())
    assert not isinstance(ok, list) and ok.time_zone == "Asia/Shanghai"
    bad = store_record(2, {"门店编号": "Flag Ship", "门店名称": "", "时区": "Mars/Base"}, _stores())
    assert sorted(e.code for e in bad) == ["INVALID_STORE_ID", "INVALID_TIME_ZONE", "REQUIRED"]


def _stores():
    return load_mapping(shipped("stores_zh"), "stores")


# --- readers -------------------------------------------------------------------------------------
def _write(path: Path, rows: list[list[str]], encoding: str) -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_and_gb18030_is_detected(tmp_path, encoding):
    path = _write(tmp_path / "m.csv", [["会员卡号", "姓名"], ["V1", "王芳"], ["V2", "李娜"]], encoding)
    header, rows = readers.open_rows(path)
    assert header == ["会员卡号", "姓名"]
    assert list(rows) == [(2, {"会员卡号": "V1", "姓名": "王芳"}), (3, {"会员卡号": "V2", "姓名": "李娜"})]


def test_a_quoted_newline_does_not_shift_row_numbers_and_blank_lines_are_skipped(tmp_path):
    path = _write(tmp_path / "m.csv", [["a", "b"], ["1", "two\nlines"], [], ["3", "x"]], "utf-8")
    _, rows = readers.open_rows(path)
    assert [n for n, _ in rows] == [2, 4]
    assert readers.count_rows(path) == 2  # what the progress bar counts: the rows read


def test_xlsx_is_read_as_a_stream_with_dates_as_iso(tmp_path):
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["会员卡号", "生日", "储值余额"])
    ws.append(["V1", datetime(1990, 5, 17), 1234.5])
    ws.append([None, None, None])
    ws.append(["V2", "1991/01/02", 10])
    wb.save(tmp_path / "m.xlsx")
    header, rows = readers.open_rows(tmp_path / "m.xlsx")
    assert header == ["会员卡号", "生日", "储值余额"]
    assert list(rows) == [
        (2, {"会员卡号": "V1", "生日": "1990-05-17", "储值余额": "1234.5"}),
        (4, {"会员卡号": "V2", "生日": "1991/01/02", "储值余额": "10"}),
    ]


def test_unreadable_files_are_refused_with_a_reason(tmp_path):
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(readers.ReadError, match="unsupported"):
        readers.open_rows(tmp_path / "x.pdf")
    (tmp_path / "x.xlsx").write_bytes(b"not a zip")
    with pytest.raises(readers.ReadError, match="xlsx"):
        readers.open_rows(tmp_path / "x.xlsx")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(readers.ReadError, match="empty"):
        readers.open_rows(tmp_path / "empty.csv")
    with pytest.raises(readers.ReadError, match="encoding"):
        readers.open_rows(_write(tmp_path / "a.csv", [["a"]], "utf-8"), encoding="no-such-codec")


# --- mapping -------------------------------------------------------------------------------------
def test_a_mapping_is_checked_before_anything_is_read(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: members\ncolumns: {name: 姓名, colour: 颜色}\nextra: 1\n", encoding="utf-8")
    with pytest.raises(MappingError) as e:
        load_mapping(bad, "members")
    assert "unknown keys" in str(e.value)
    assert "colour" in str(e.value)
    assert "card_number" in str(e.value)  # a required field not mapped
    with pytest.raises(MappingError, match="not in the file: 手机, 开卡门店"):
        ZH.fitted(["会员卡号", "姓名"])
    # optional columns the file lacks read as empty
    fitted = ZH.fitted(["会员卡号", "姓名", "手机", "开卡门店", "积分"])
    assert set(fitted.columns) == {"card_number", "name", "phone", "store", "points"}
    r = member_record(2, _row(积分="5"), fitted)
    assert isinstance(r, MemberRecord) and (r.points, r.principal_minor) == (5, 0)
