"""JetStream streams: one per service, ``PEONY_<SERVICE>`` over ``peony.<service>.>``."""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError, NotFoundError

from kit.messaging.outbox import DEFAULT_MAX_EVENT_BYTES, EVENT_HEADROOM_BYTES

__all__ = [
    "DEFAULT_DUPLICATE_WINDOW_S",
    "DEFAULT_MAX_AGE_S",
    "StreamReplicasError",
    "dlq_subject",
    "ensure_stream",
    "stream_max_msg_size",
    "stream_name",
    "stream_subjects",
]

DEFAULT_DUPLICATE_WINDOW_S = 2 * 3600.0
DEFAULT_MAX_AGE_S = 30 * 86400.0
_STREAM_NAME_IN_USE = 10058

_log = structlog.get_logger("kit.messaging.streams")


class StreamReplicasError(RuntimeError):
    """The NATS servers cannot hold the stream with the configured number of replicas."""


def stream_name(service: str) -> str:
    return f"PEONY_{service.upper()}"


def stream_subjects(service: str) -> list[str]:
    return [f"peony.{service}.>"]


def stream_max_msg_size(max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> int:
    """The stream's ``max_msg_size`` for events of at most ``max_event_bytes`` (as ``add_to_outbox``
    counts them): the relay's additions at publish time fit in the headroom."""
    return max_event_bytes + EVENT_HEADROOM_BYTES


def dlq_subject(service: str, durable: str) -> str:
    """Where consumer ``durable`` of ``service`` dead-letters: ``peony.<service>.dlq.<durable>``."""
    return f"peony.{service}.dlq.{durable}"


async def ensure_stream(
    js: JetStreamContext,
    service: str,
    *,
    duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    max_msg_size: int | None = None,
    replicas: int | None = None,
) -> None:
    """Create the service's stream, or bring the settings we own up to date. Idempotent.

    File storage, limits retention, ``max_age_s`` retention and a ``duplicate_window_s`` dedupe
    window (longer than the relay's retry horizon for a message it may already have sent), and a
    ``max_msg_size`` consistent with the outbox's event limit (the owner passes it; a new stream
    gets :func:`stream_max_msg_size`), so the stream accepts every event ``add_to_outbox``
    accepted. ``replicas`` (PEONY_NATS_STREAM_REPLICAS, the owner passes it) is the number of
    servers holding each message: a new stream gets it, an existing one is scaled to it (JetStream
    can change it in place). Without it a new stream has 1 and an existing one keeps its own.
    Settings we do not own (placement, limits set by operators) are kept as they are.
    """
    name = stream_name(service)
    wanted = StreamConfig(
        name=name,
        description=f"Peony {service} events",
        subjects=stream_subjects(service),
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age_s,
        duplicate_window=duplicate_window_s,
        max_msg_size=stream_max_msg_size() if max_msg_size is None else max_msg_size,
        num_replicas=replicas or 1,
    )
    # Without an explicit max_msg_size (a service ensuring another service's stream exists, say)
    # an existing stream keeps its own: only the owner, which knows its event limit, changes it.
    own_max_msg_size = max_msg_size is not None
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(wanted)
            _log.info("nats.stream_created", stream=name, replicas=wanted.num_replicas)
            return
        except BadRequestError as exc:  # created concurrently by another replica
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise _replicas_error(name, replicas, exc) from exc
        except APIError as exc:
            raise _replicas_error(name, replicas, exc) from exc
        info = await js.stream_info(name)

    current = info.config
    changed = (
        sorted(current.subjects or []) != sorted(wanted.subjects or [])
        or current.max_age != wanted.max_age
        or current.duplicate_window != wanted.duplicate_window
        or (own_max_msg_size and current.max_msg_size != wanted.max_msg_size)
        or (replicas is not None and (current.num_replicas or 1) != replicas)
    )
    if current.storage != StorageType.FILE or current.retention != RetentionPolicy.LIMITS:
        # JetStream cannot change either in place.
        raise RuntimeError(
            f"stream {name} has {current.storage} storage and {current.retention} retention; "
            "it must be file storage with limits retention (recreate it)"
        )
    if not changed:
        return
    current.subjects = wanted.subjects
    current.max_age = wanted.max_age
    current.duplicate_window = wanted.duplicate_window
    if own_max_msg_size:
        current.max_msg_size = wanted.max_msg_size
    if replicas is not None:
        current.num_replicas = replicas
    try:
        await js.update_stream(current)
    except APIError as exc:
        raise _replicas_error(name, replicas, exc) from exc
    _log.info("nats.stream_updated", stream=name)


def _replicas_error(name: str, replicas: int | None, exc: APIError) -> Exception:
    """A refusal that a replica count beyond the cluster explains, with the setting named."""
    text = str(exc).lower()
    # 10074: replicas > 1 on a single server; 10023: insufficient resources (too few servers)
    if replicas and replicas > 1 and (exc.err_code in (10023, 10074) or "replicas" in text):
        return StreamReplicasError(
            f"stream {name}: PEONY_NATS_STREAM_REPLICAS={replicas} but the NATS servers cannot place "
            f"{replicas} replicas ({exc}); run a cluster of at least {replicas} JetStream servers "
            "or lower the setting"
        )
    return exc
