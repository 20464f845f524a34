"""Which store owes a member's stored value (储值归属): pure rules, no I/O.

A member's stored value is one pair of ledger accounts (principal, bonus), but the money behind
it was taken by the store that sold it (the top-up's store), and that store owes it until it is
spent. So the wallet keeps, next to the accounts, one *lot* per (member, selling store) with the
principal and bonus that store still owes, amounts reserved by holds included:

- a top-up (or a bonus instalment) adds to the selling store's lot;
- a spend — checkout, package bought with stored value, captured hold, stored-value refund —
  takes from the lots in a defined order: the spending store's own lot first (no clearing
  needed), then the other stores' lots, the longest-held first (the order they were opened,
  then store id). Principal and bonus are taken separately, each in that order. What a spend
  takes from another store's lot is what that store owes the spending store (inter-store
  clearing);
- a refund of a spend gives back to exactly the lots that spend took from, last taken first,
  never more than was taken; a reversed top-up takes back exactly what it added.

Invariant: Σ lots.principal = the member's principal balance + principal reserved by open
holds (and likewise bonus); a lot never goes below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoreLot:
    store_id: str
    principal: int
    bonus: int
    opened: datetime


@dataclass(frozen=True)
class Share:
    """Principal and bonus taken from (or given back to) one store's lot; never negative."""

    store_id: str
    principal: int
    bonus: int


class LotsShort(Exception):
    """The lots hold less than asked: the caller's balance check and the lots disagree (a bug)."""


def spend_order(lots: list[StoreLot], at_store: str) -> list[StoreLot]:
    """The spending store's own lot first, then the others, longest-held first."""
    return sorted(lots, key=lambda lot: (lot.store_id != at_store, lot.opened, lot.store_id))


def _take(amounts: list[tuple[str, int]], wanted: int) -> dict[str, int]:
    taken: dict[str, int] = {}
    for store_id, have in amounts:
        if wanted == 0:
            break
        part = min(have, wanted)
        if part > 0:
            taken[store_id] = part
            wanted -= part
    if wanted:
        raise LotsShort(f"the lots are {wanted} short")
    return taken


def take(lots: list[StoreLot], *, principal: int, bonus: int, at_store: str) -> list[Share]:
    """What a spend of `principal` and `bonus` at `at_store` takes from each lot, in spend order."""
    ordered = spend_order(lots, at_store)
    from_principal = _take([(lot.store_id, lot.principal) for lot in ordered], principal)
    from_bonus = _take([(lot.store_id, lot.bonus) for lot in ordered], bonus)
    return [
        Share(lot.store_id, from_principal.get(lot.store_id, 0), from_bonus.get(lot.store_id, 0))
        for lot in ordered
        if lot.store_id in from_principal or lot.store_id in from_bonus
    ]


def give_back(outstanding: list[Share], *, principal: int, bonus: int) -> list[Share]:
    """What a refund of `principal` and `bonus` gives back to each lot: `outstanding` is what
    the refunded spend took from each lot (in the order taken) less what earlier refunds gave
    back; the last taken is given back first."""
    back = list(reversed(outstanding))
    to_principal = _take([(s.store_id, s.principal) for s in back], principal)
    to_bonus = _take([(s.store_id, s.bonus) for s in back], bonus)
    return [
        Share(s.store_id, to_principal.get(s.store_id, 0), to_bonus.get(s.store_id, 0))
        for s in back
        if s.store_id in to_principal or s.store_id in to_bonus
    ]
