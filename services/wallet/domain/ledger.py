"""The double-entry ledger: accounts, postings and balanced transactions. Pure rules, no I/O.

Sign convention: a posting's `amount` is positive for a debit and negative for a credit, and an
account's stored `balance` is exactly the sum of its postings. Liabilities to members (stored
value, points, package sessions) are credit-normal, so what a member *has* is `-balance`; those
accounts may never go past zero in their normal direction. The tenant's own accounts (tenders,
revenue, expenses, deferred revenue, issuance counters) are the other side of every movement.

Every transaction balances to zero per unit: money ("CNY"), points ("PTS") and package sessions
("SESSION") never mix.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from kit.errors import FailedPrecondition, InvalidArgument

POINTS = "PTS"
SESSIONS = "SESSION"

# A single movement larger than this is refused as a typing error or an overflow attempt:
# 10^12 fen = 10 billion yuan, far below int64 even after summing many of them.
MAX_AMOUNT = 10**12


class Normal(Enum):
    DEBIT = "debit"
    CREDIT = "credit"


@dataclass(frozen=True)
class AccountKind:
    code: str
    normal: Normal
    member_owned: bool  # member-owned accounts can never be overdrawn

    @property
    def guarded(self) -> bool:
        return self.member_owned

    def __hash__(self) -> int:
        # The code names the kind (KINDS): hashing it alone keeps equal kinds' hashes equal and
        # spares hashing the Normal enum in Python on every dict lookup of an AccountKey (a
        # checkout does ~80).
        return hash(self.code)


def _kind(code: str, normal: Normal, member_owned: bool = False) -> AccountKind:
    return AccountKind(code, normal, member_owned)


# --- member accounts (liabilities of the tenant to the member) ---------------------------------
SV_PRINCIPAL = _kind("sv_principal", Normal.CREDIT, True)  # stored value the member paid for
SV_BONUS = _kind("sv_bonus", Normal.CREDIT, True)  # released top-up bonus
SV_HELD = _kind("sv_held", Normal.CREDIT, True)  # stored value reserved by holds
MEMBER_POINTS = _kind("points", Normal.CREDIT, True)
PACKAGE_ITEM = _kind("package_item", Normal.CREDIT, True)  # sessions left of one package item
# sessions of one package item reserved by session holds (still the member's until captured)
PACKAGE_ITEM_HELD = _kind("package_item_held", Normal.CREDIT, True)
# --- tenant accounts (per store where it matters for finance) ---------------------------------
TENDER = _kind("tender", Normal.DEBIT)  # money received by method (cash, WeChat Pay, …)
REVENUE = _kind("revenue", Normal.CREDIT)
BONUS_EXPENSE = _kind("bonus_expense", Normal.DEBIT)
POINTS_DEDUCTION_EXPENSE = _kind("points_deduction_expense", Normal.DEBIT)  # money value of redeemed points
DEFERRED_PACKAGE_REVENUE = _kind("deferred_package_revenue", Normal.CREDIT)
POINTS_ISSUED = _kind("points_issued", Normal.DEBIT)  # every point ever granted
POINTS_REDEEMED = _kind("points_redeemed", Normal.CREDIT)
POINTS_EXPIRED = _kind("points_expired", Normal.CREDIT)
SESSIONS_ISSUED = _kind("sessions_issued", Normal.DEBIT)
SESSIONS_CONSUMED = _kind("sessions_consumed", Normal.CREDIT)
SESSIONS_REFUNDED = _kind("sessions_refunded", Normal.CREDIT)
SESSIONS_EXPIRED = _kind("sessions_expired", Normal.CREDIT)  # unused, past their item's expiry
# The other side of balances brought over from a legacy system (`peony import`): one per unit
# (money, points, sessions), so Σ opening credits to members = - this account's balance.
OPENING_BALANCE = _kind("opening_balance", Normal.DEBIT)

KINDS: dict[str, AccountKind] = {
    k.code: k
    for k in (
        SV_PRINCIPAL,
        SV_BONUS,
        SV_HELD,
        MEMBER_POINTS,
        PACKAGE_ITEM,
        PACKAGE_ITEM_HELD,
        TENDER,
        REVENUE,
        BONUS_EXPENSE,
        POINTS_DEDUCTION_EXPENSE,
        DEFERRED_PACKAGE_REVENUE,
        POINTS_ISSUED,
        POINTS_REDEEMED,
        POINTS_EXPIRED,
        SESSIONS_ISSUED,
        SESSIONS_CONSUMED,
        SESSIONS_REFUNDED,
        SESSIONS_EXPIRED,
        OPENING_BALANCE,
    )
}

_ACCOUNT_NS = uuid.UUID("6f1b7f3e-3c0e-4f0a-9d7e-2b4f3a1c9e55")


@lru_cache(maxsize=16384)
def _account_id(tenant: str, code: str, owner: str, unit: str) -> str:
    """``str(uuid.uuid5(_ACCOUNT_NS, "tenant|code|owner|unit"))`` without building UUID objects,
    remembered for the accounts in use: a checkout asks for ~30 ids of about eight accounts."""
    digest = bytearray(
        hashlib.sha1(
            _ACCOUNT_NS.bytes + f"{tenant}|{code}|{owner}|{unit}".encode(), usedforsecurity=False
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class AccountKey:
    """Identifies an account: its kind, whose it is (member id, store id, package item, or "")
    and its unit. The id is derived from the key, so finding an account never needs a lookup."""

    kind: AccountKind
    owner: str
    unit: str

    def account_id(self, tenant: str) -> str:
        return _account_id(tenant, self.kind.code, self.owner, self.unit)


@dataclass(frozen=True)
class Posting:
    account: AccountKey
    amount: int  # + debit, - credit


@dataclass
class TransactionDraft:
    kind: str
    postings: list[Posting] = field(default_factory=list)
    member_id: str | None = None
    store_id: str | None = None
    description: str = ""
    reverses: str | None = None  # transaction id this one exactly reverses
    reference: str = ""  # the resource the transaction belongs to, e.g. `checkouts/{checkout}`
    # revenue recognised per unlimited time-card item (`{package}:{service}`) by earlier postings
    # of this draft, so two lines using one card in a checkout do not recognise the same time twice
    time_recognised: dict[str, int] = field(default_factory=dict, compare=False)
    # and the uses of such items taken by earlier postings of this draft (their daily cap)
    time_card_uses: dict[str, int] = field(default_factory=dict, compare=False)

    def move(self, amount: int, *, debit: AccountKey, credit: AccountKey) -> TransactionDraft:
        """Debit one account and credit another by `amount` (same unit); zero is a no-op."""
        if amount < 0:
            raise ValueError("move() takes a non-negative amount; swap the accounts instead")
        if amount:
            self.postings.append(Posting(debit, amount))
            self.postings.append(Posting(credit, -amount))
        return self

    def validate(self) -> None:
        if not self.postings:
            raise InvalidArgument([("amount", "nothing to post")])
        per_unit: dict[str, int] = defaultdict(int)
        for p in self.postings:
            if p.amount == 0 or abs(p.amount) > MAX_AMOUNT:
                raise InvalidArgument([("amount", f"each movement must be within 1..{MAX_AMOUNT}")])
            per_unit[p.account.unit] += p.amount
        unbalanced = {u: s for u, s in per_unit.items() if s}
        if unbalanced:
            raise AssertionError(f"unbalanced transaction {self.kind}: {unbalanced}")  # a bug, never input


def available(kind: AccountKind, balance: int) -> int:
    """What an account holds in its normal direction."""
    return -balance if kind.normal is Normal.CREDIT else balance


def check_not_overdrawn(key: AccountKey, new_balance: int) -> None:
    if key.kind.guarded and available(key.kind, new_balance) < 0:
        raise FailedPrecondition(
            f"insufficient {key.kind.code.replace('_', ' ')}",
            reason="INSUFFICIENT_BALANCE",
            metadata={"account": key.kind.code, "unit": key.unit},
        )


def reversal_of(
    kind: str,
    postings: list[Posting],
    *,
    reverses: str,
    member_id: str | None,
    store_id: str | None,
    reference: str = "",
) -> TransactionDraft:
    """The exact mirror of a posted transaction: every posting negated."""
    return TransactionDraft(
        kind="reversal",
        postings=[Posting(p.account, -p.amount) for p in postings],
        member_id=member_id,
        store_id=store_id,
        description=f"reversal of {kind}",
        reverses=reverses,
        reference=reference,
    )
