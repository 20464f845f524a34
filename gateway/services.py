"""Which gRPC services the gateway exposes, and where each one lives.

Adding a service is one line in :data:`EXPOSED_SERVICES`: its full proto name and the key of its
address in ``config.service_addrs`` (``PEONY_<KEY>_ADDR``). Routes come from the service's
``google.api.http`` annotations; nothing else has to change.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

__all__ = ["EXPOSED_SERVICES", "ExposedService", "ServiceNotFound", "load_services"]


@dataclass(frozen=True)
class ExposedService:
    full_name: str  # e.g. "peony.members.v1.MembersService"
    backend: str  # key into config.service_addrs, e.g. "members"


EXPOSED_SERVICES: tuple[ExposedService, ...] = (
    ExposedService("peony.members.v1.MembersService", "members"),
    ExposedService("peony.members.v1.ImportService", "members"),
    ExposedService("peony.notify.v1.NotifyService", "notify"),
    ExposedService("peony.wallet.v1.WalletService", "wallet"),
    ExposedService("peony.booking.v1.BookingService", "booking"),
    ExposedService("peony.insights.v1.InsightsService", "insights"),
)


class ServiceNotFound(LookupError):
    """The generated Python for a registered service is not importable."""


def _import_generated(package: str) -> None:
    """Import every ``*_pb2`` module of ``package`` so its descriptors are in the default pool."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
        if info.name.endswith("_pb2"):
            importlib.import_module(f"{package}.{info.name}")


def find_service(full_name: str) -> ServiceDescriptor:
    """The descriptor of ``full_name``, importing ``<proto package>/*_pb2`` (as generated into gen/)."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName(full_name)
    except KeyError:
        pass
    package = full_name.rpartition(".")[0]
    try:
        _import_generated(package)
        return pool.FindServiceByName(full_name)
    except (ImportError, KeyError) as exc:
        raise ServiceNotFound(f"{full_name}: no generated module in package {package!r} ({exc})") from exc


def load_services(
    registry: Iterable[ExposedService] = EXPOSED_SERVICES, *, strict: bool = True
) -> tuple[list[tuple[ServiceDescriptor, str]], list[str]]:
    """``([(descriptor, backend key)], [problems])``; with ``strict`` a missing service raises."""
    found: list[tuple[ServiceDescriptor, str]] = []
    missing: list[str] = []
    for entry in registry:
        try:
            found.append((find_service(entry.full_name), entry.backend))
        except ServiceNotFound as exc:
            if strict:
                raise
            missing.append(str(exc))
    return found, missing
