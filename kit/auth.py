"""Bearer-token authentication and role permissions.

Every RPC carries a JWT with the caller's tenant, subject, roles and store scope. The server
interceptor verifies it (algorithm allow-list, `iss`, `aud`, `exp`) and publishes a `Principal`
in a context variable; handlers read it with `current_principal()` and scope every query to
`principal.tenant`.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from kit.config import DEV_JWT_SECRET, AuthConfig
from kit.errors import PermissionDenied, Unauthenticated

# Permissions are named by what they allow; roles are bundles of them.
MEMBERS_READ = "members.read"
MEMBERS_WRITE = "members.write"
MEMBERS_PII_READ = "members.pii.read"
MEMBERS_CARE_READ = "members.care.read"  # the care profile (skin type, allergies, treatments)
MEMBERS_TIER_OVERRIDE = "members.tier.override"
MEMBERS_CARDS_MANAGE = "members.cards.manage"
# Erasing a member at their request (right to erasure): irreversible, so headquarters only.
MEMBERS_ERASE = "members.erase"
# Saving segments and counting / listing their members (a bulk view: HQ admin and marketing).
MEMBERS_SEGMENTS_MANAGE = "members.segments.manage"
# Bulk import of a chain from its legacy system (ImportService): headquarters only.
MEMBERS_IMPORT = "members.import"
# Approving or rejecting a campaign over the tenant's cost threshold (院长/HQ 审批): HQ admin only.
MEMBERS_CAMPAIGNS_APPROVE = "members.campaigns.approve"
# Unmasked addresses for sending (notify's identity only).
MEMBERS_CONTACT_RESOLVE = "members.contact.resolve"
STORES_READ = "stores.read"
STORES_MANAGE = "stores.manage"
TIERS_MANAGE = "tiers.manage"
NOTIFY_READ = "notify.read"
NOTIFY_ADMIN = "notify.admin"  # tenant templates, re-sending failed messages
# Forwarding providers' delivery receipts to notify (the gateway's identity only).
NOTIFY_RECEIPTS_RECORD = "notify.receipts.record"
# Writing an import's opening balances into the wallet (members' identity only: its import worker).
WALLET_IMPORT_APPLY = "wallet.import.apply"
# Held only by the roles of Peony's own service identities (`notifier`, `receipt_forwarder`,
# `importer`), never by a person's role: not in ALL_PERMISSIONS, so not even hq_admin has them.
SERVICE_ONLY_PERMISSIONS = frozenset({MEMBERS_CONTACT_RESOLVE, NOTIFY_RECEIPTS_RECORD, WALLET_IMPORT_APPLY})
WALLET_READ = "wallet.read"
WALLET_WRITE = "wallet.write"  # top-ups, holds, checkout: front-desk money movements
WALLET_ADJUST = "wallet.adjust"  # staff point adjustments and reversals (audited)
WALLET_ADMIN = "wallet.admin"  # settings, plans, products, catalog
WALLET_FINANCE = "wallet.finance"  # liability and clearing views
BOOKING_OVERRIDE = "booking.override"  # book past a member's window, cap or restriction (recorded)
BOOKING_STAFF = "booking.staff"  # front-desk work: check in, complete, no-show, waive, complaints
BOOKING_ADMIN = "booking.admin"  # the service menu, resources, booking policy and service plans
INSIGHTS_READ = "insights.read"  # the chain's KPIs (store-bound roles: their own stores only)

ALL_PERMISSIONS = frozenset(
    {
        MEMBERS_READ,
        MEMBERS_WRITE,
        MEMBERS_PII_READ,
        MEMBERS_CARE_READ,
        MEMBERS_TIER_OVERRIDE,
        MEMBERS_CARDS_MANAGE,
        MEMBERS_ERASE,
        MEMBERS_SEGMENTS_MANAGE,
        MEMBERS_IMPORT,
        MEMBERS_CAMPAIGNS_APPROVE,
        STORES_READ,
        STORES_MANAGE,
        TIERS_MANAGE,
        NOTIFY_READ,
        NOTIFY_ADMIN,
        WALLET_READ,
        WALLET_WRITE,
        WALLET_ADJUST,
        WALLET_ADMIN,
        WALLET_FINANCE,
        BOOKING_OVERRIDE,
        BOOKING_STAFF,
        BOOKING_ADMIN,
        INSIGHTS_READ,
    }
)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "hq_admin": ALL_PERMISSIONS,
    "finance": frozenset(
        {MEMBERS_READ, STORES_READ, NOTIFY_READ, WALLET_READ, WALLET_FINANCE, INSIGHTS_READ}
    ),
    "marketing": frozenset(
        {
            MEMBERS_READ,
            MEMBERS_SEGMENTS_MANAGE,
            STORES_READ,
            NOTIFY_READ,
            NOTIFY_ADMIN,
            WALLET_READ,
            INSIGHTS_READ,
        }
    ),
    "store_manager": frozenset(
        {
            MEMBERS_READ,
            MEMBERS_WRITE,
            MEMBERS_PII_READ,
            MEMBERS_CARE_READ,
            MEMBERS_TIER_OVERRIDE,
            MEMBERS_CARDS_MANAGE,
            STORES_READ,
            NOTIFY_READ,
            WALLET_READ,
            WALLET_WRITE,
            WALLET_ADJUST,
            BOOKING_OVERRIDE,
            BOOKING_STAFF,
            BOOKING_ADMIN,
            INSIGHTS_READ,
        }
    ),
    "front_desk": frozenset(
        {
            MEMBERS_READ,
            MEMBERS_WRITE,
            MEMBERS_PII_READ,
            MEMBERS_CARE_READ,
            MEMBERS_CARDS_MANAGE,
            STORES_READ,
            WALLET_READ,
            WALLET_WRITE,
            BOOKING_OVERRIDE,
            BOOKING_STAFF,
        }
    ),
    "beautician": frozenset({MEMBERS_READ, MEMBERS_CARE_READ, STORES_READ, BOOKING_STAFF}),
    "consultant": frozenset({MEMBERS_READ, MEMBERS_WRITE, MEMBERS_CARE_READ, STORES_READ, BOOKING_STAFF}),
    # A member using the mini-program: the handlers restrict them to their own record.
    "member": frozenset({MEMBERS_READ, MEMBERS_PII_READ, MEMBERS_CARE_READ, WALLET_READ}),
    # Peony's own services calling each other (booking places and settles holds; wallet and
    # booking read members and stores through on a projection miss). No personal data: no
    # service needs it, so a service reads members masked.
    "service": frozenset({MEMBERS_READ, STORES_READ, NOTIFY_READ, WALLET_READ, WALLET_WRITE}),
    # Held, beside `service`, by the notify service's identity only: it resolves members' addresses.
    "notifier": frozenset({MEMBERS_CONTACT_RESOLVE}),
    # Held, beside `service`, by the gateway only: it forwards providers' receipt callbacks.
    "receipt_forwarder": frozenset({NOTIFY_RECEIPTS_RECORD}),
    # Held, beside `service`, by the members service's identity only: its import worker writes
    # opening balances through the wallet's ApplyImportBatch.
    "importer": frozenset({WALLET_IMPORT_APPLY}),
}
# Roles whose access is limited to the stores listed in the token's `stores` claim.
STORE_BOUND_ROLES = frozenset({"store_manager", "front_desk", "beautician", "consultant"})


def is_store_scoped(roles: list[str] | frozenset[str]) -> bool:
    """Purely store-bound staff: the token's `stores` claim limits them (no claim: no store at all)."""
    return bool(set(roles) & STORE_BOUND_ROLES) and not set(roles) - STORE_BOUND_ROLES - {"member"}


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    subject: str
    roles: frozenset[str]
    permissions: frozenset[str]
    # None means every store of the tenant; otherwise the stores (`stores/{id}`) the caller may act for.
    stores: frozenset[str] | None
    expires_at: float

    @property
    def is_member_self_service(self) -> bool:
        """A member using the mini-program with their own token (`sub` = `members/{id}`)."""
        return self.roles == frozenset({"member"})

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def binding(self) -> str:
        """Who is asking, as far as authorization can tell: subject, roles and store scope. A
        replayed request_id answers only a caller with the same binding (kit.idempotency)."""
        stores = "*" if self.stores is None else ",".join(sorted(self.stores))
        return f"{self.subject}|{','.join(sorted(self.roles))}|{stores}"

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(
                f"caller lacks permission {permission}",
                reason="MISSING_PERMISSION",
                metadata={"permission": permission},
            )

    def require_store(self, store: str) -> None:
        if self.stores is not None and store not in self.stores:
            raise PermissionDenied(
                f"caller is not scoped to {store}", reason="STORE_OUT_OF_SCOPE", metadata={"store": store}
            )

    def require_store_scope(self, store: str | None) -> None:
        """For a request that may name a store (`stores/{id}`, or None): a caller bound to stores
        must name one of theirs — without a store it would act for (or read) every store."""
        if self.stores is None:
            return
        if not store:
            raise PermissionDenied(
                "a store-scoped caller must name one of its stores", reason="STORE_REQUIRED"
            )
        self.require_store(store)

    def require_staff(self) -> None:
        """Staff data (commission, pay): never for a member's own token."""
        if self.is_member_self_service:
            raise PermissionDenied("members may not read staff data", reason="STAFF_ONLY")

    def require_member(self, member: str) -> None:
        """A member's own token may only touch that member."""
        if self.is_member_self_service and self.subject != member:
            raise PermissionDenied("members may only access their own record", reason="NOT_OWN_RECORD")


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("peony_principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller", reason="MISSING_CREDENTIALS")
    return principal


def set_principal(principal: Principal | None) -> contextvars.Token:
    return _current.set(principal)


def reset_principal(token: contextvars.Token) -> None:
    _current.reset(token)


class TokenVerifier:
    """Verifies bearer JWTs; caches successful verifications until they expire.

    The cache matters on the hot path: signature checks cost tens of microseconds per call and
    the same token arrives on every call of a session.
    """

    LEEWAY_SECONDS = 30
    CACHE_SIZE = 4096

    def __init__(self, config: AuthConfig):
        self._config = config
        self._algorithms = list(config.algorithms)
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True) if config.jwks_url else None
        self._cache: OrderedDict[str, Principal] = OrderedDict()

    def verify_header(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("missing bearer token", reason="MISSING_CREDENTIALS")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'", reason="MALFORMED_CREDENTIALS")
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at + self.LEEWAY_SECONDS > now:
                return cached
            self._cache.pop(token, None)
        principal = self._decode(token)
        self._cache[token] = principal
        if len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("malformed token", reason="INVALID_TOKEN") from exc
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise Unauthenticated(f"token algorithm {alg!r} is not allowed", reason="INVALID_TOKEN")
        if alg == "HS256":
            key: object = self._config.hs256_secret
        else:
            assert self._jwks is not None  # config validation guarantees a JWKS for asymmetric algorithms
            try:
                key = self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise Unauthenticated("token signing key not found", reason="INVALID_TOKEN") from exc
        try:
            claims = jwt.decode(
                token,
                key=key,  # type: ignore[arg-type]
                algorithms=[alg],
                audience=self._config.audience,
                issuer=self._config.issuer,
                leeway=self.LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired", reason="TOKEN_EXPIRED") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}", reason="INVALID_TOKEN") from exc
        return principal_from_claims(claims)


def principal_from_claims(claims: dict) -> Principal:
    tenant = claims.get("tenant")
    if not isinstance(tenant, str) or not tenant:
        raise Unauthenticated("token has no tenant claim", reason="INVALID_TOKEN")
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("roles claim must be a list of strings", reason="INVALID_TOKEN")
    unknown = [r for r in roles if r not in ROLE_PERMISSIONS]
    if unknown:
        raise Unauthenticated(f"unknown roles {unknown}", reason="INVALID_TOKEN")
    permissions: set[str] = set()
    for role in roles:
        permissions |= ROLE_PERMISSIONS[role]
    stores_claim = claims.get("stores")
    stores: frozenset[str] | None = None
    if is_store_scoped(roles):
        stores = frozenset(s if s.startswith("stores/") else f"stores/{s}" for s in (stores_claim or []))
    return Principal(
        tenant=tenant,
        subject=str(claims["sub"]),
        roles=frozenset(roles),
        permissions=frozenset(permissions),
        stores=stores,
        expires_at=float(claims["exp"]),
    )


def mint_dev_token(
    *,
    tenant: str,
    subject: str,
    roles: list[str],
    stores: list[str] | None = None,
    ttl_seconds: int = 86400,
    secret: str | None = None,
    issuer: str = "peony",
    audience: str = "peony",
) -> str:
    """An HS256 token for development and tests (`peony token`). Production uses an IdP + JWKS."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
        "tenant": tenant,
        "roles": roles,
    }
    if stores is not None:
        claims["stores"] = stores
    return jwt.encode(claims, secret or DEV_JWT_SECRET, algorithm="HS256")
