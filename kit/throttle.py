"""Client-side adaptive throttling: refuse a call before it leaves the process when its target
has been refusing most calls (Google SRE, "Handling Overload", client-side throttling).

Why: a server can only refuse a call after its event loop took the call from gRPC core, i.e.
after the call queued behind everything else -- under overload that refusal itself took
hundreds of milliseconds, and each one still cost the server a little CPU. A client that knows
its target is refusing most calls can refuse most of them itself, at once and for free.

Each process keeps, per target, over a sliding window (``PEONY_CLIENT_THROTTLE_WINDOW_S``, in
``WINDOW_BUCKETS`` buckets):

- ``requests``: calls the application asked for, *including* the ones refused here, each counted
  once its outcome is known (a call in flight is neither an accept nor a refusal yet: counted at
  send time, a burst of slow calls to a healthy target would read as refusals -- the benchmark saw
  exactly that with 5 s calls to a fresh client);
- ``accepts``: calls the target answered with anything but an overload refusal
  (:func:`is_overload_refusal`: ``RESOURCE_EXHAUSTED`` or ``UNAVAILABLE`` carrying a
  ``google.rpc.RetryInfo``, which is how kit/grpc_server.py sheds a call);

and refuses a new call locally with probability
``max(0, (requests - K * accepts) / (requests + REQUESTS_PADDING))`` (``PEONY_CLIENT_THROTTLE_K``).
A healthy target (accepts == requests) is never throttled; with K = 2 a target may refuse up to
half the calls before any is refused here; the calls that do go out keep probing, so the local
refusals fade as the target accepts again (and as its refusals leave the window). SRE's formula
has ``requests + 1``: there, a quiet client's single shed call would make its next call a coin
toss; the padding (grpc-go's adaptive throttler for RLS uses 8) needs a few refusals first.

A local refusal looks exactly like a server's to the caller: a :class:`ThrottledLocally`, which is
a ``grpc.aio.AioRpcError`` with ``RESOURCE_EXHAUSTED``, reason ``OVERLOADED`` and a ``RetryInfo`` in
``grpc-status-details-bin`` (kit.errors.Overloaded). The gateway maps it to 429 + Retry-After and
the services' clients handle it as they handle a shed call. It is counted in the
``rpc.client.throttled`` metric and never sent.

Where it runs: every kit client -- the interceptor that :func:`kit.telemetry.client_interceptors`
adds last (closest to the wire: members -> wallet, booking -> wallet, notify -> members, ...) and
``kit.telemetry.OutboundCalls`` (the gateway's backend calls). Each attempt that reaches the wire
is counted once, there and only there: kit.service_auth's retry loop counts nothing itself, and
never retries a local refusal (another attempt at once would only be refused again, or slip
through the throttle it is meant to obey).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import status_pb2
from opentelemetry import metrics

from kit.errors import Overloaded, grpc_trailers

__all__ = [
    "AdaptiveThrottle",
    "ThrottleSettings",
    "ThrottledLocally",
    "ThrottlingInterceptor",
    "configure",
    "is_overload_refusal",
    "load_throttle_settings",
    "reset",
    "throttle_for",
]

# Buckets of the sliding window: old outcomes leave it a bucket at a time.
WINDOW_BUCKETS = 60
# Added to the requests in the denominator: a handful of refusals is not yet a pattern.
REQUESTS_PADDING = 8
# RetryInfo of a local refusal: the same jittered range the servers send (kit/grpc_server.py).
LOCAL_RETRY_DELAY_S = (0.1, 0.5)
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
_OVERLOAD_CODES = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)


@dataclass(frozen=True)
class ThrottleSettings:
    """PEONY_CLIENT_THROTTLE            on    refuse locally while a target refuses most calls
    PEONY_CLIENT_THROTTLE_K          2.0   accepts are multiplied by K (1.0..10: lower throttles sooner)
    PEONY_CLIENT_THROTTLE_WINDOW_S   120   the sliding window the counts cover (1..3600 s)
    """

    enabled: bool = True
    k: float = 2.0
    window_s: float = 120.0


def load_throttle_settings(environ: Mapping[str, str] | None = None) -> ThrottleSettings:
    """The settings in ``environ`` (default: the process environment); ValueError names every
    bad variable (kit.config reports them at start with the other configuration problems)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    raw_on = env.get("PEONY_CLIENT_THROTTLE", "on").strip().lower()
    if raw_on not in ("on", "off", "true", "false", "1", "0"):
        problems.append(f"PEONY_CLIENT_THROTTLE={raw_on!r} must be on or off")

    def number(name: str, default: float, lo: float, hi: float) -> float:
        raw = env.get(name)
        if raw is None or not raw.strip():
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not lo <= value <= hi:  # NaN fails too
            problems.append(f"{name}={raw!r} must be a number from {lo:g} to {hi:g}")
            return default
        return value

    k = number("PEONY_CLIENT_THROTTLE_K", 2.0, 1.0, 10.0)
    window_s = number("PEONY_CLIENT_THROTTLE_WINDOW_S", 120.0, 1.0, 3600.0)
    if problems:
        raise ValueError("; ".join(problems))
    return ThrottleSettings(enabled=raw_on in ("on", "true", "1"), k=k, window_s=window_s)


def _status_has_retry_info(trailing_metadata: Iterable[tuple[str, Any]] | None) -> bool:
    for key, value in trailing_metadata or ():
        if key == "grpc-status-details-bin":
            try:
                details = status_pb2.Status.FromString(bytes(value)).details
            except Exception:  # a malformed detail reads as "no advice"
                return False
            return any(d.type_url == _RETRY_INFO_TYPE for d in details)
    return False


def is_overload_refusal(code: grpc.StatusCode, trailing_metadata: Iterable[tuple[str, Any]] | None) -> bool:
    """Whether a call ended with the target refusing it for load (not an accept): RESOURCE_EXHAUSTED
    or UNAVAILABLE with a RetryInfo. A quota (RESOURCE_EXHAUSTED without RetryInfo), an error of the
    request, or an unreachable target is an answer about something else and counts as an accept."""
    return code in _OVERLOAD_CODES and _status_has_retry_info(trailing_metadata)


class ThrottledLocally(grpc.aio.AioRpcError):
    """A call this process refused before sending it: to its caller, a server's RESOURCE_EXHAUSTED
    ``OVERLOADED`` with a RetryInfo (isinstance tells the two apart where it matters: retries)."""

    def __init__(self, retry_delay_s: float):
        message = "the server is overloaded; retry after the RetryInfo delay"
        status = Overloaded(message, retry_delay_s=retry_delay_s).to_status()
        super().__init__(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(*grpc_trailers(status)),
            details=message,
            debug_error_string="refused by client-side adaptive throttling (kit/throttle.py)",
        )


_meter_counter: Any = None


def _throttled_counter() -> Any:
    global _meter_counter
    if _meter_counter is None:
        meter = metrics.get_meter("peony.rpc.client")
        _meter_counter = meter.create_counter(
            "rpc.client.throttled",
            unit="{call}",
            description="Calls refused by client-side adaptive throttling before they were sent",
        )
    return _meter_counter


class AdaptiveThrottle:
    """The counts of one target and the decision (see the module docstring). Plain attributes and
    no lock: each process's clients run on one event loop."""

    __slots__ = (
        "_accepts",
        "_bucket_s",
        "_clock",
        "_current",
        "_random",
        "_requests",
        "accepts",
        "k",
        "refused_locally",
        "requests",
        "target",
    )

    def __init__(
        self,
        target: str,
        k: float = 2.0,
        window_s: float = 120.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ):
        self.target = target
        self.k = k
        self._bucket_s = window_s / WINDOW_BUCKETS
        self._clock = clock
        self._random = rng
        self._requests = [0] * WINDOW_BUCKETS
        self._accepts = [0] * WINDOW_BUCKETS
        self._current = int(clock() / self._bucket_s)
        self.requests = 0  # over the window
        self.accepts = 0
        self.refused_locally = 0  # since the process started (tests, the benchmark)

    def _roll(self) -> int:
        """The current bucket's index, after emptying the buckets the window has moved past."""
        now = int(self._clock() / self._bucket_s)
        if now != self._current:
            for tick in range(self._current + 1, min(now, self._current + WINDOW_BUCKETS) + 1):
                i = tick % WINDOW_BUCKETS
                self.requests -= self._requests[i]
                self.accepts -= self._accepts[i]
                self._requests[i] = self._accepts[i] = 0
            self._current = now
        return now % WINDOW_BUCKETS

    def refusal_probability(self) -> float:
        self._roll()
        return max(0.0, (self.requests - self.k * self.accepts) / (self.requests + REQUESTS_PADDING))

    def admit(self) -> bool:
        """Whether to send a call (False: refuse it locally, and count that request now). A call
        sent is counted by :meth:`record` once its outcome is known."""
        p = self.refusal_probability()
        if p > 0.0 and self._random() < p:  # load shedding, not security
            self._requests[self._current % WINDOW_BUCKETS] += 1
            self.requests += 1
            self.refused_locally += 1
            return False
        return True

    def record(self, accepted: bool) -> None:
        """The outcome of a call :meth:`admit` let through: one request, and an accept unless the
        target refused it for load. Every sent call must be recorded exactly once."""
        i = self._roll()
        self._requests[i] += 1
        self.requests += 1
        if accepted:
            self._accepts[i] += 1
            self.accepts += 1

    def refuse(self, method: str) -> ThrottledLocally:
        """The error a locally refused call fails with (and the metric counting it)."""
        service, _, name = method.lstrip("/").rpartition("/")
        _throttled_counter().add(
            1,
            {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name, "server.address": self.target},
        )
        return ThrottledLocally(random.uniform(*LOCAL_RETRY_DELAY_S))  # jitter, not security


_settings: ThrottleSettings | None = None
_throttles: dict[str, AdaptiveThrottle] = {}


def configure(settings: ThrottleSettings | None) -> None:
    """Set the process's settings (None: read the environment again on next use) and forget every
    target's counts (tests, and processes configured by code rather than the environment)."""
    global _settings
    _settings = settings
    _throttles.clear()


def reset() -> None:
    """Forget every target's counts and the settings read from the environment."""
    configure(None)


def throttle_for(target: str | None) -> AdaptiveThrottle | None:
    """The process's throttle for calls to ``target`` (one per target, shared by every client of
    it), or None when throttling is off or the call has no target to count against."""
    global _settings
    if not target:
        return None
    if _settings is None:
        _settings = load_throttle_settings()
    if not _settings.enabled:
        return None
    throttle = _throttles.get(target)
    if throttle is None:
        throttle = _throttles[target] = AdaptiveThrottle(target, _settings.k, _settings.window_s)
    return throttle


class ThrottlingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Refuses a unary call locally as :class:`AdaptiveThrottle` decides, and counts the outcome of
    each call it lets through. Innermost in kit.telemetry.client_interceptors: the CLIENT span and
    ``rpc.client.call.duration`` see a local refusal as RESOURCE_EXHAUSTED."""

    def __init__(self, throttle: AdaptiveThrottle):
        self._throttle = throttle

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        throttle = self._throttle
        if not throttle.admit():
            method = client_call_details.method
            raise throttle.refuse(method.decode() if isinstance(method, bytes) else method)
        try:
            call = await continuation(client_call_details, request)
            code = await call.code()
        except grpc.aio.AioRpcError as exc:
            throttle.record(not is_overload_refusal(exc.code(), exc.trailing_metadata()))
            raise
        except BaseException:  # cancelled by its caller: the target refused nothing
            throttle.record(True)
            raise
        if code is grpc.StatusCode.OK:
            throttle.record(True)
        else:
            throttle.record(not is_overload_refusal(code, await call.trailing_metadata()))
        return call
