"""Device alerts (connected devices): counting repeats, and which become cases.

A device reports ``(device_id, alert_type, severity, ...)``. While an alert
for the same device and type is open and its last report came within the
window, a repeat counts on it instead of making a new one. Alert rules
(``[[cases.alert_rules]]``) decide, on every report, whether an alert that
has no case yet gets one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cases.config import AlertRule
from conversations.models import rfc3339


@dataclass(frozen=True, slots=True)
class DeviceAlert:
    id: str
    device_id: str
    alert_type: str
    severity: str
    description: str
    customer_id: str | None
    count: int
    status: str
    """``open`` or ``closed``."""
    first_at: datetime
    last_at: datetime
    case_id: str | None = None

    def context(self) -> dict[str, Any]:
        """What alert rule conditions see."""
        return {
            "device_id": self.device_id,
            "alert_type": self.alert_type,
            "severity": self.severity,
            "description": self.description,
            "customer_id": self.customer_id,
            "count": self.count,
        }

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "device_id": self.device_id,
            "alert_type": self.alert_type,
            "severity": self.severity,
            "description": self.description,
            "customer_id": self.customer_id,
            "count": self.count,
            "status": self.status,
            "case_id": self.case_id,
            "first_at": rfc3339(self.first_at),
            "last_at": rfc3339(self.last_at),
        }


def is_repeat(open_alert: DeviceAlert | None, now: datetime, window: timedelta) -> bool:
    """Whether a new report counts on ``open_alert`` (else a new alert starts)."""
    return (
        open_alert is not None
        and open_alert.status == "open"
        and now - open_alert.last_at <= window
    )


def case_rule(rules: Sequence[AlertRule], alert: DeviceAlert) -> AlertRule | None:
    """The first rule that turns this alert into a case, if it has none yet."""
    if alert.case_id is not None:
        return None
    context = alert.context()
    return next((r for r in rules if r.condition.evaluate(context)), None)


def case_title(alert: DeviceAlert) -> str:
    return f"{alert.alert_type} on device {alert.device_id}"
