"""The roles a token may carry and what each allows, rendered from ``kit.auth.ROLE_PERMISSIONS``.

One source for ``peony token --help`` and the README's role table (``python -m cli.roles``
prints the table, ``python -m cli.roles --write-readme`` rewrites it in README.md between its
markers; a unit test keeps the README in step with ``kit.auth``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from kit.auth import ALL_PERMISSIONS, ROLE_PERMISSIONS, STORE_BOUND_ROLES

# What each role is for (domain.md §1 names the staff roles).
ROLE_NOTES = {
    "hq_admin": "HQ administrator",
    "finance": "finance views",
    "marketing": "segments (save, count, list members); notify's message templates",
    "store_manager": "runs their stores",
    "front_desk": "front desk (前台): registration, cards, checkout, bookings",
    "beautician": "beautician / technician: their appointments and care profiles",
    "consultant": "consultant: members and their care",
    "member": "a member's own token (mini-program): their own record only",
    "service": "Peony's services calling each other",
    "notifier": "the notify service's identity: resolves members' addresses",
    "receipt_forwarder": "the gateway's identity: forwards providers' delivery receipts to notify",
    "importer": "the members service's identity: its import worker writes opening balances to the wallet",
}
README_BEGIN, README_END = "<!-- roles:begin -->\n", "\n<!-- roles:end -->"


def _scope(role: str) -> str:
    if role in STORE_BOUND_ROLES:
        return "its `stores` claim (`--store`)"
    if role == "member":
        return "own record"
    return "every store"


def _permissions(role: str) -> str:
    perms = ROLE_PERMISSIONS[role]
    return "all permissions" if perms == ALL_PERMISSIONS else ", ".join(sorted(perms))


def roles_help() -> str:
    """Plain text for ``peony token --help``."""
    width = max(map(len, ROLE_PERMISSIONS))
    lines = ["roles (--role) and their permissions:"]
    for role in ROLE_PERMISSIONS:
        lines.append(f"  {role:<{width}}  {_permissions(role)}")
    lines.append(
        f"store-bound roles ({', '.join(sorted(STORE_BOUND_ROLES))}) see only the stores given with "
        "--store; without one they see nothing."
    )
    return "\n".join(lines)


def roles_markdown() -> str:
    """The README's table."""
    lines = ["| role | for | scope | permissions |", "|---|---|---|---|"]
    for role in ROLE_PERMISSIONS:
        perms = _permissions(role)
        perms = perms if perms == "all permissions" else ", ".join(f"`{p}`" for p in perms.split(", "))
        lines.append(f"| `{role}` | {ROLE_NOTES.get(role, '')} | {_scope(role)} | {perms} |")
    return "\n".join(lines)


def write_readme(path: Path) -> None:
    text = path.read_text()
    start = text.index(README_BEGIN) + len(README_BEGIN)
    end = text.index(README_END, start)
    path.write_text(text[:start] + roles_markdown() + text[end:])


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-readme"]:
        write_readme(Path(__file__).resolve().parents[1] / "README.md")
    else:
        print(roles_markdown())
