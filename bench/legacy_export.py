"""A generated legacy member-card export (the columns of
`services/members/adapters/legacy_files/mappings/yikayi_zh.yaml`),
for the import tests and `bench/bench_import.py`: written as a stream (constant memory whatever
the size), deterministic for a seed, with known bad rows and the totals the import must reconcile
to.

Every 50th row (row number = data index + 2, the header being row 1) is bad in one of ten ways;
the bad duplicates copy the card number or phone of the row 7 rows earlier, which is never bad.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

HEADER = [
    "会员卡号",
    "一卡通号",
    "姓名",
    "手机",
    "生日",
    "等级",
    "储值余额",
    "赠送余额",
    "积分",
    "积分到期日",
    "疗程卡项目/剩余次数",
    "开卡门店",
    "备注",
]
STORES = [
    ("flagship", "旗舰店", "Asia/Shanghai"),
    ("nanshan", "南山店", "Asia/Shanghai"),
    ("urumqi", "乌鲁木齐店", "Asia/Urumqi"),
]
TIERS = ["普通", "银卡", "金卡", "白金", "钻石", ""]
ITEMS = ["面部护理", "颈部护理", "肩颈按摩", "精油开背", "足疗"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "芳娜敏静丽艳娟霞秀英华慧巧美婷雪琳晶莉"
BAD_EVERY = 50
# bad row kind -> (column, reason code)
BAD_KINDS = [
    ("手机", "INVALID_PHONE"),
    ("储值余额", "INVALID_AMOUNT"),  # three decimals
    ("赠送余额", "INVALID_AMOUNT"),  # negative
    ("等级", "UNKNOWN_TIER"),
    ("开卡门店", "UNKNOWN_STORE"),
    ("会员卡号", "DUPLICATE_CARD_NUMBER"),
    ("手机", "PHONE_TAKEN"),
    ("疗程卡项目/剩余次数", "UNKNOWN_ITEM"),
    ("生日", "INVALID_DATE"),
    ("姓名", "REQUIRED"),
]


@dataclass
class Expected:
    rows: int = 0
    bad: dict[int, tuple[str, str]] = field(default_factory=dict)  # row -> (column, code)
    totals: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("principal_minor", "bonus_minor", "points", "sessions"), 0)
    )

    def count_bad(self) -> int:
        return len(self.bad)


def _card(i: int) -> str:
    return f"VIP{i:08d}"


def _phone(i: int) -> str:
    return f"139{i:08d}"


def write_stores(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["门店编号", "门店名称", "时区", "地址"])
        for store_id, name, tz in STORES:
            w.writerow([store_id, name, tz, f"{name}地址"])


def write_members(
    path: Path, n: int, *, seed: int = 7, encoding: str = "utf-8", keep_bad: bool = True
) -> Expected:
    """Writes ``n`` data rows; returns what the import must find."""
    rng = random.Random(seed)
    exp = Expected(rows=n)
    with path.open("w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(n):
            row_number = i + 2
            principal = rng.randrange(0, 500_000) if rng.random() < 0.8 else 0
            bonus = rng.randrange(0, 100_000) if principal and rng.random() < 0.5 else 0
            points = rng.randrange(0, 20_000) if rng.random() < 0.7 else 0
            items = rng.sample(ITEMS, rng.randrange(0, 3)) if rng.random() < 0.4 else []
            sessions = [rng.randrange(1, 20) for _ in items]
            cells = {
                "会员卡号": _card(i),
                "一卡通号": f"YKT{i:07d}" if i % 3 == 0 else "",
                "姓名": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                "手机": _phone(i),
                "生日": f"{rng.randrange(1960, 2005)}/{rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}",
                "等级": rng.choice(TIERS),
                "储值余额": _yuan(principal, rng),
                "赠送余额": _yuan(bonus, rng),
                "积分": f"{points:,}"
                if points > 999 and rng.random() < 0.3
                else (str(points) if points else ""),
                "积分到期日": f"2027-{rng.randrange(1, 13):02d}-28" if points and rng.random() < 0.8 else "",
                "疗程卡项目/剩余次数": ";".join(
                    f"{item}:{s}" + (":2027-12-31" if rng.random() < 0.5 else "")
                    for item, s in zip(items, sessions, strict=True)
                ),
                "开卡门店": rng.choice([s[1] for s in STORES] + [STORES[0][0]]),
                "备注": rng.choice(["", "", "敏感肌", "喜欢安静"]),
            }
            bad = keep_bad and i >= BAD_EVERY and i % BAD_EVERY == 0
            if bad:
                kind = (i // BAD_EVERY) % len(BAD_KINDS)
                column, code = BAD_KINDS[kind]
                cells.update(
                    [
                        {"手机": "12345"},
                        {"储值余额": "12.345"},
                        {"赠送余额": "-5"},
                        {"等级": "黑卡"},
                        {"开卡门店": "不存在的店"},
                        {"会员卡号": _card(i - 7)},
                        {"手机": _phone(i - 7)},
                        {"疗程卡项目/剩余次数": "未知项目:3"},
                        {"生日": "1990-13-45"},
                        {"姓名": ""},
                    ][kind].items()
                )
                exp.bad[row_number] = (column, code)
            else:
                exp.totals["principal_minor"] += principal
                exp.totals["bonus_minor"] += bonus
                exp.totals["points"] += points
                exp.totals["sessions"] += sum(sessions)
            w.writerow([cells[h] for h in HEADER])
    return exp


def _yuan(fen: int, rng: random.Random) -> str:
    if not fen:
        return rng.choice(["", "0", "0.00"])
    text = f"{fen // 100}.{fen % 100:02d}"
    style = rng.random()
    if style < 0.1 and fen >= 100_000:
        return f"{fen // 100:,}.{fen % 100:02d}"
    if style < 0.2:
        return "¥" + text
    return text
