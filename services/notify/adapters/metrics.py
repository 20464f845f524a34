"""Notify's metrics (OpenTelemetry): sends, failures and latency per channel and provider, policy
outcomes per reason, and paid-channel spend per tenant. No addresses in any attribute."""

from __future__ import annotations

from opentelemetry import metrics

_meter = metrics.get_meter("peony.notify")

sends = _meter.create_counter("peony.notify.sends", unit="{message}", description="Messages a provider took")
send_failures = _meter.create_counter(
    "peony.notify.send_failures", unit="{attempt}", description="Provider send attempts that failed"
)
send_latency = _meter.create_histogram(
    "peony.notify.send_latency", unit="ms", description="Time a provider took to accept a message"
)
decisions = _meter.create_counter(
    "peony.notify.decisions", unit="{message}", description="Policy outcomes (deferred, suppressed) by reason"
)
spend = _meter.create_counter(
    "peony.notify.spend", unit="{minor_unit}", description="Paid-channel spend per tenant, minor units"
)
spend_cap_reached = _meter.create_counter(
    "peony.notify.spend_cap_reached", unit="{event}", description="A tenant reached its daily spend cap"
)
in_doubt = _meter.create_counter(
    "peony.notify.in_doubt",
    unit="{message}",
    description="In-doubt claims reconciled: found at the provider, or re-sent (not found)",
)
