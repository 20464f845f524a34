"""Masked forms of personal data: enough for a person to recognise it, not to use it.

Shared by members (masked reads) and notify (the masked address it keeps on a message).
"""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """+8613812345678 -> 138****5678 (the form front desks know); other numbers keep the last 4."""
    national = phone[3:] if phone.startswith("+86") else phone
    if len(national) >= 7:
        return national[:3] + "****" + national[-4:]
    return "****" + national[-2:]


def mask_email(email: str) -> str:
    """jing@example.com -> j***@example.com."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_secret(value: str) -> str:
    """Openids and push tokens: the last 4 characters only."""
    return "****" + value[-4:] if len(value) > 8 else "****"
