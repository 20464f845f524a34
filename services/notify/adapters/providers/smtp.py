"""E-mail over SMTP (``aiosmtplib``): STARTTLS or implicit TLS, AUTH, multipart/alternative text + HTML.

SMTP has no delivery receipt: the relay accepting the message is "sent". Bounces (DSNs arriving
later at the envelope sender's mailbox) are out of scope; :meth:`SmtpEmail.parse_receipt`
refuses every callback.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib

from services.notify.adapters.providers.base import (
    DeliveryReceipt,
    InvalidReceipt,
    OutgoingMessage,
    ProviderError,
    SendResult,
)


class SmtpEmail:
    channel = "email"

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        sender: str,
        sender_name: str | None = None,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        use_tls: bool = False,
        verify_tls: bool = True,
        message_id_domain: str = "notify.peony",
        timeout_seconds: float = 20.0,
    ):
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.sender_name = sender_name
        self._username = username
        self._password = password
        self._starttls = starttls
        self._use_tls = use_tls
        self._tls_context = ssl.create_default_context() if verify_tls else None
        self._verify_tls = verify_tls
        self._domain = message_id_domain
        self._timeout = timeout_seconds

    def message_id(self, message: OutgoingMessage) -> str:
        """``<message_id@domain>``: the same notify message always gets the same Message-ID."""
        return f"<{message.message_id}@{self._domain}>"

    def build(self, message: OutgoingMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = formataddr((self.sender_name, self.sender)) if self.sender_name else self.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject or ""
        mail["Message-ID"] = self.message_id(message)
        mail["Date"] = formatdate(usegmt=True)
        mail["Content-Language"] = message.locale
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail

    async def send(self, message: OutgoingMessage) -> SendResult:
        mail = self.build(message)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.host,
                port=self.port,
                username=self._username,
                password=self._password,
                start_tls=self._starttls if not self._use_tls else False,
                use_tls=self._use_tls,
                tls_context=self._tls_context,
                validate_certs=self._verify_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [err.code for err in exc.recipients]
            retryable = all(400 <= code < 500 for code in codes)
            raise ProviderError(
                f"recipient refused {codes}", retryable=retryable, provider=self.name
            ) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise ProviderError(
                f"authentication failed {exc.code}", retryable=False, provider=self.name
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            retryable = 400 <= exc.code < 500
            raise ProviderError(f"SMTP {exc.code}", retryable=retryable, provider=self.name) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise ProviderError(f"SMTP {type(exc).__name__}", retryable=True, provider=self.name) from None
        return SendResult(self.name, self.message_id(message), 0)

    def parse_receipt(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> list[DeliveryReceipt]:
        raise InvalidReceipt("SMTP has no receipt callback")

    receipt_ack = ("text/plain", b"")

    async def aclose(self) -> None:
        return None
