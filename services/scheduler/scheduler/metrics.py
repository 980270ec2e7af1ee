"""Prometheus metrics of the scheduler (served on ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ARMED = Counter(
    "scheduler_timers_armed_total", "Timers armed or re-armed (moved by new activity)", ["kind"]
)
FIRED = Counter("scheduler_timers_fired_total", "Timers fired: event published", ["kind"])
CANCELLED = Counter("scheduler_timers_cancelled_total", "Timers cancelled", ["reason"])
RECLAIMED = Counter(
    "scheduler_timers_reclaimed_total", "Timers re-claimed after a firer's lease ran out"
)
SCHEDULED = Gauge("scheduler_timers_scheduled", "Timers waiting to fire (state scheduled)")
DUE = Gauge("scheduler_timers_due", "Scheduled timers whose due time has passed")
OVERDUE = Gauge(
    "scheduler_timers_overdue_seconds",
    "How late the oldest timer of this replica's last claim was (0 when nothing is due)",
)
BATCH_SECONDS = Gauge("scheduler_last_batch_seconds", "Duration of the last firing batch")
