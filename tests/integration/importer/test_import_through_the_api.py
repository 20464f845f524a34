"""What `peony import` wrote is what the services answer: an XLSX export in English and a GB18030
CSV in Chinese, then the members and wallet APIs (the wallet reading the imported member through
from members) — plus input the command must refuse whole, writing nothing."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from peony.members.v1 import members_service_pb2 as mpb
from peony.members.v1 import tier_pb2
from peony.wallet.v1 import ledger_pb2, points_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import mint_dev_token
from tests.support.services import members_and_wallet

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
TENANT = "acme"
AUTH = (("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=['hq_admin'])}"),)


@pytest.fixture(scope="module")
async def stack(infra):
    async with members_and_wallet(infra, "impapi") as s:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "gen"), env.get("PYTHONPATH", "")]),
            PEONY_MEMBERS_DATABASE_URL=s.members_url,
            PEONY_WALLET_DATABASE_URL=s.wallet_url,
            PEONY_LOG_LEVEL="WARNING",
        )
        yield env, s.members, s.wallet, s.members_url, s.wallet_url


async def _import(env, *args: str) -> tuple[int, dict | None, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli.main", "import", *args, "--tenant", TENANT, "--no-progress",
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    lines = out.decode().strip().splitlines()
    return proc.returncode or 0, (json.loads(lines[-1]) if lines else None), err.decode()


async def _counts(members_url: str, wallet_url: str) -> tuple[int, int, int]:
    out = []
    for url, sql in (
        (members_url, "SELECT count(*) FROM members"),
        (members_url, "SELECT count(*) FROM member_import_rows"),
        (wallet_url, "SELECT count(*) FROM ledger_transactions"),
    ):
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                out.append((await conn.execute(text(sql))).scalar_one())
        finally:
            await engine.dispose()
    return tuple(out)  # type: ignore[return-value]


async def test_an_xlsx_export_in_english_lands_in_members_and_the_wallet(stack, tmp_path):
    from openpyxl import Workbook

    env, members, wallet, *_ = stack
    stores = tmp_path / "stores.csv"
    stores.write_text(
        "Store ID,Name,Time Zone,Address\ndowntown,Downtown,Asia/Shanghai,1 Main St\n", encoding="utf-8"
    )
    rc, summary, err = await _import(env, "stores", str(stores))
    assert rc == 0, err
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    header = ["Card Number", "Name", "Mobile", "Birthday", "Tier", "Stored Value", "Bonus Value", "Points"]
    ws.append([*header, "Points Expiry", "Packages", "Home Store", "Notes"])
    ann_money = ["Gold", 1234.56, "100", 300, "2027-12-31", "Facial:10:2027-12-31;Neck Care:2"]
    ws.append(["EN-0001", "Ann Lee", "13800000001", "1990-05-17", *ann_money, "Downtown", "likes tea"])
    ws.append([])  # a blank line is skipped; row numbers still count it
    ws.append(["EN-0002", "Bo Chen", "+8613800000002", "", "", "", "", "", "", "Foot Spa:4", "downtown", ""])
    ws.append(["EN-0003", "Cy Wu", "not a phone", "", "", "5", "", "", "", "", "Downtown", ""])
    wb.save(tmp_path / "clients.xlsx")
    report = tmp_path / "clients.errors.csv"
    rc, summary, err = await _import(env, "members", str(tmp_path / "clients.xlsx"), "--errors", str(report))
    assert rc == 0, err
    assert (summary["rows_imported"], summary["rows_rejected"]) == (2, 1)
    assert summary["reconciled"] is True
    assert summary["ledger_totals"] == {
        "principal_minor": 123456,
        "bonus_minor": 10000,
        "points": 300,
        "sessions": 16,
    }
    with report.open(encoding="utf-8-sig") as f:
        assert list(csv.reader(f)) == [
            ["row", "column", "reason", "code"],
            ["5", "Mobile", "not a mobile number", "INVALID_PHONE"],
        ]

    found = await members.FindMemberByCardNumber(
        mpb.FindMemberByCardNumberRequest(card_number="EN-0001"), metadata=AUTH
    )
    ann = found.member
    assert (ann.display_name, ann.phone, ann.birthday) == ("Ann Lee", "+8613800000001", "1990-05-17")
    assert ann.tier.tier_id == "gold"
    # the tier carried over from the old system is in the member's tier history, coded IMPORT;
    # Bo (no tier in the file: the entry tier) has no history entry
    history = await members.ListTierChanges(mpb.ListTierChangesRequest(parent=ann.name), metadata=AUTH)
    assert [(c.from_tier_id, c.to_tier_id, c.reason_code) for c in history.tier_changes] == [
        ("", "gold", tier_pb2.TIER_CHANGE_REASON_IMPORT)
    ]
    assert history.tier_changes[0].actor.startswith("imports/")
    bo = await members.FindMemberByCardNumber(
        mpb.FindMemberByCardNumberRequest(card_number="EN-0002"), metadata=AUTH
    )
    bo_history = await members.ListTierChanges(
        mpb.ListTierChangesRequest(parent=bo.member.name), metadata=AUTH
    )
    assert list(bo_history.tier_changes) == []
    # The wallet knows the member only through members (read-through), and holds the opening balances.
    got = await wallet.GetWallet(wpb.GetWalletRequest(name=f"{ann.name}/wallet"), metadata=AUTH)
    assert (got.wallet.principal_minor, got.wallet.bonus_minor, got.wallet.points_available) == (
        123456,
        10000,
        300,
    )
    # ... under their own kind and source, never UNSPECIFIED
    listed = await wallet.ListTransactions(wpb.ListTransactionsRequest(parent=ann.name), metadata=AUTH)
    assert [t.kind for t in listed.transactions] == [ledger_pb2.TRANSACTION_KIND_OPENING_BALANCE]
    only_openings = await wallet.ListTransactions(
        wpb.ListTransactionsRequest(parent=ann.name, kinds=[ledger_pb2.TRANSACTION_KIND_OPENING_BALANCE]),
        metadata=AUTH,
    )
    assert only_openings.transactions == listed.transactions
    lots = await wallet.ListPointLots(wpb.ListPointLotsRequest(parent=ann.name), metadata=AUTH)
    assert [(lot.source, lot.remaining) for lot in lots.point_lots] == [(points_pb2.LOT_SOURCE_IMPORT, 300)]


async def test_a_gb18030_csv_is_detected_and_a_rerun_changes_nothing(stack, tmp_path):
    env, members, _, members_url, wallet_url = stack
    stores = tmp_path / "门店.csv"
    stores.write_text("门店编号,门店名称,时区,地址\nxinyi,信义店,Asia/Shanghai,\n", encoding="gb18030")
    assert (await _import(env, "stores", str(stores)))[0] == 0
    members_csv = tmp_path / "会员.csv"
    members_csv.write_text(
        "会员卡号,姓名,手机,开卡门店,储值余额,积分\nZH-0001,王芳,13900000011,信义店,88.80,12\n",
        encoding="gb18030",
    )
    rc, first, err = await _import(env, "members", str(members_csv))
    assert rc == 0, err
    assert first["rows_imported"] == 1 and first["ledger_totals"]["principal_minor"] == 8880
    before = await _counts(members_url, wallet_url)
    rc, again, err = await _import(env, "members", str(members_csv))
    assert rc == 0, err
    assert again["rows_already_imported"] == 1
    assert await _counts(members_url, wallet_url) == before
    found = await members.FindMemberByCardNumber(
        mpb.FindMemberByCardNumberRequest(card_number="ZH-0001"), metadata=AUTH
    )
    assert found.member.display_name == "王芳"


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [
        ("missing.csv", None, [], "no such file"),
        ("x.pdf", b"%PDF-1.4", [], "unsupported file type"),
        ("x.xlsx", b"PK\x03\x04 broken", [], "not a readable .xlsx"),
        ("x.csv", "会员卡号,姓名\nV1,王\n".encode(), [], "no shipped mapping fits"),
        ("y.csv", b"a,b\n1,2\n", ["--mapping", "generic_en"], "not in the file"),
        ("z.csv", b"a,b\n1,2\n", ["--batch", "0"], "--batch"),
        ("w.csv", "会员卡号\nV1\n".encode("gb18030"), ["--encoding", "klingon"], "unknown encoding"),
        ("v.csv", b"a\n1\n", ["--import-id", "../../etc"], "--import-id"),
    ],
)
async def test_unusable_input_is_refused_whole_and_writes_nothing(
    stack, tmp_path, name, content, extra, message
):
    env, _, _, members_url, wallet_url = stack
    before = await _counts(members_url, wallet_url)
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    rc, summary, err = await _import(env, "members", str(path), *extra)
    assert rc == 2 and summary is None
    assert message in err
    assert "Traceback" not in err
    assert await _counts(members_url, wallet_url) == before


async def test_a_mapping_file_with_unknown_fields_is_refused(stack, tmp_path):
    env, *_ = stack
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        f"kind: members\ncolumns: {{card_number: A, colour: B}}\nnonce: {uuid.uuid4()}\n", encoding="utf-8"
    )
    (tmp_path / "f.csv").write_text("A,B\n1,2\n", encoding="utf-8")
    rc, _, err = await _import(env, "members", str(tmp_path / "f.csv"), "--mapping", str(mapping))
    assert rc == 2
    assert "unknown keys" in err and "colour" in err and "required fields not mapped" in err


async def test_legacy_vouchers_go_to_the_member_holding_the_card(stack, tmp_path):
    env, members, wallet, members_url, wallet_url = stack
    (tmp_path / "s.csv").write_text("门店编号,门店名称\nqj,青浦店\n", encoding="utf-8")
    assert (await _import(env, "stores", str(tmp_path / "s.csv")))[0] == 0
    (tmp_path / "m.csv").write_text(
        "会员卡号,一卡通号,姓名,手机,开卡门店\nVC-0001,YKT-77,李娜,13900000021,青浦店\n", encoding="utf-8"
    )
    assert (await _import(env, "members", str(tmp_path / "m.csv")))[0] == 0
    vouchers = tmp_path / "v.csv"
    vouchers.write_text(
        "会员卡号,券号,券名称,面额,最低消费,有效期至\n"
        "YKT-77,LEG-0001,生日券,50,200,2027-12-31\n"  # found by the 一卡通号 alias
        "VC-0001,LEG-0002,,20.5,,\n"
        "NOPE-9999,LEG-0003,,10,,\n"  # no such card
        "VC-0001,LEG-0001,,10,,\n"  # code already used by row 2
        "VC-0001,LEG-0004,,0,,\n",  # no amount
        encoding="utf-8",
    )
    report = tmp_path / "v.errors.csv"
    rc, summary, err = await _import(env, "vouchers", str(vouchers), "--errors", str(report))
    assert rc == 0, err
    assert summary["accepted_vouchers"] == summary["issued_vouchers"] == {"vouchers": 2, "amount_minor": 7050}
    assert summary["reconciled"] is True
    with report.open(encoding="utf-8-sig") as f:
        assert [(r[0], r[1], r[3]) for r in list(csv.reader(f))[1:]] == [
            ("6", "面额", "AMOUNT_REQUIRED"),
            ("4", "会员卡号", "UNKNOWN_CARD"),
            ("5", "券号", "DUPLICATE_VOUCHER_CODE"),
        ]
    found = await members.FindMemberByCardNumber(
        mpb.FindMemberByCardNumberRequest(card_number="VC-0001"), metadata=AUTH
    )
    listed = await wallet.ListVouchers(wpb.ListVouchersRequest(parent=found.member.name), metadata=AUTH)
    assert sorted((v.code, v.amount_off_minor) for v in listed.vouchers) == [
        ("LEG-0001", 5000),
        ("LEG-0002", 2050),
    ]
    before = await _counts(members_url, wallet_url)
    rc, again, err = await _import(env, "vouchers", str(vouchers))
    assert rc == 0, err
    assert again["issued_vouchers"] == {"vouchers": 2, "amount_minor": 7050}
    assert await _counts(members_url, wallet_url) == before
    listed = await wallet.ListVouchers(wpb.ListVouchersRequest(parent=found.member.name), metadata=AUTH)
    assert len(listed.vouchers) == 2
