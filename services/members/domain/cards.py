"""Member cards (会员卡) and their life cycle: active, frozen, lost (挂失), replaced (补卡), closed."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from kit.errors import FailedPrecondition

ACTIVE = "active"
FROZEN = "frozen"
LOST = "lost"
REPLACED = "replaced"
CLOSED = "closed"

_CARD_NUMBER = re.compile(r"^[0-9A-Za-z-]{4,32}$")


def valid_card_number(value: str) -> bool:
    return bool(_CARD_NUMBER.match(value))


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def generate_card_number() -> str:
    """12 digits: '8', 10 random digits, a Luhn check digit (catches most typing errors)."""
    body = "8" + "".join(secrets.choice("0123456789") for _ in range(10))
    return body + luhn_digit(body)


@dataclass
class Card:
    card_id: str
    member_id: str
    card_number: str
    state: str = ACTIVE
    replaced_by: str | None = None
    replaces: str | None = None
    legacy_numbers: list[str] = field(default_factory=list)
    create_time: datetime | None = None
    update_time: datetime | None = None

    def _refuse(self, action: str) -> FailedPrecondition:
        return FailedPrecondition(
            f"cannot {action} a card that is {self.state}",
            reason="CARD_STATE_CONFLICT",
            metadata={"state": self.state, "action": action},
        )

    def report_lost(self) -> None:
        if self.state not in (ACTIVE, FROZEN):
            raise self._refuse("report lost")
        self.state = LOST

    def freeze(self) -> None:
        if self.state != ACTIVE:
            raise self._refuse("freeze")
        self.state = FROZEN

    def unfreeze(self) -> None:
        if self.state != FROZEN:
            raise self._refuse("unfreeze")
        self.state = ACTIVE

    def replace_with(self, new_card: Card) -> None:
        if self.state not in (ACTIVE, FROZEN, LOST):
            raise self._refuse("replace")
        self.state = REPLACED
        self.replaced_by = new_card.card_id
        new_card.replaces = self.card_id

    def close(self) -> None:
        """For good: a closed card is never reopened or replaced (issue a new card instead)."""
        if self.state not in (ACTIVE, FROZEN, LOST):
            raise self._refuse("close")
        self.state = CLOSED

    def add_legacy_number(self, number: str) -> None:
        if self.state in (REPLACED, CLOSED):
            raise self._refuse("add a legacy number to")
        self.legacy_numbers.append(number)
