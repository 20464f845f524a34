"""Firebase Cloud Messaging HTTP v1, authorised by an OAuth2 token from a service-account JWT.

FCM has no delivery callback (delivery data exists only as aggregate BigQuery exports), so a
push is final at "sent"; :meth:`FcmPush.parse_receipt` refuses every callback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import jwt

from services.notify.adapters.providers._http import HttpClient, json_body, retryable_status
from services.notify.adapters.providers.base import (
    DeliveryReceipt,
    InvalidReceipt,
    OutgoingMessage,
    ProviderError,
    SendResult,
)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_MARGIN_SECONDS = 300
# FCM error statuses after which the same message can never succeed.
PERMANENT = frozenset(
    {"INVALID_ARGUMENT", "UNREGISTERED", "SENDER_ID_MISMATCH", "NOT_FOUND", "PERMISSION_DENIED"}
)


class FcmPush:
    channel = "push"

    def __init__(
        self,
        name: str,
        *,
        endpoint: str,
        project_id: str,
        client_email: str,
        private_key: str,
        private_key_id: str | None,
        token_uri: str,
        timeout_seconds: float = 10.0,
    ):
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self._client_email = client_email
        self._private_key = private_key
        self._private_key_id = private_key_id
        self.token_uri = token_uri
        self._http = HttpClient(name, timeout_seconds)
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()

    def assertion(self, now: int | None = None) -> str:
        """The RS256 JWT exchanged for an access token (Google's service-account flow)."""
        iat = int(time.time()) if now is None else now
        claims = {
            "iss": self._client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + 3600,
        }
        headers = {"kid": self._private_key_id} if self._private_key_id else None
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers=headers)

    async def _access_token(self, *, stale: str | None = None) -> str:
        async with self._token_lock:
            if self._token and self._token != stale and time.monotonic() < self._token_expires_at:
                return self._token
            status, raw = await self._http.request(
                "POST", self.token_uri, data={"grant_type": JWT_BEARER, "assertion": self.assertion()}
            )
            answer = json_body(self.name, status, raw)
            token = answer.get("access_token") if isinstance(answer, dict) and status == 200 else None
            if not token:
                error = answer.get("error") if isinstance(answer, dict) else None
                raise ProviderError(
                    f"token {error or f'HTTP {status}'}",
                    retryable=retryable_status(status),
                    provider=self.name,
                )
            expires_in = answer.get("expires_in")
            lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 3600
            self._token = str(token)
            self._token_expires_at = time.monotonic() + max(lifetime - REFRESH_MARGIN_SECONDS, lifetime / 2)
            return self._token

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        body: dict[str, Any] = {
            "token": message.address,
            "notification": {"title": message.subject or "", "body": message.text},
            "data": {"message_id": message.message_id, **{k: str(v) for k, v in message.params.items()}},
        }
        if message.link:
            body["data"]["link"] = message.link
            body["webpush"] = {"fcm_options": {"link": message.link}}
            body["android"] = {"notification": {"click_action": message.link}}
        return {"message": body}

    async def send(self, message: OutgoingMessage) -> SendResult:
        payload = self.payload(message)
        url = f"{self.endpoint}/v1/projects/{self.project_id}/messages:send"
        token = await self._access_token()
        for attempt in range(2):
            status, raw = await self._http.request(
                "POST", url, json=payload, headers={"Authorization": f"Bearer {token}"}
            )
            answer = json_body(self.name, status, raw)
            if status == 200 and isinstance(answer, dict) and answer.get("name"):
                return SendResult(self.name, str(answer["name"]), 0)
            if status == 401 and attempt == 0:
                token = await self._access_token(stale=token)
                continue
            error = answer.get("error") if isinstance(answer, dict) else None
            code = error.get("status") if isinstance(error, dict) else None
            retryable = code not in PERMANENT and retryable_status(status)
            raise ProviderError(str(code or f"HTTP {status}"), retryable=retryable, provider=self.name)
        raise ProviderError("access token refused twice", retryable=True, provider=self.name)

    def parse_receipt(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> list[DeliveryReceipt]:
        raise InvalidReceipt("FCM has no delivery callback")

    receipt_ack = ("text/plain", b"")

    async def aclose(self) -> None:
        await self._http.aclose()
