"""Service levels: business-hours calendars, business-time arithmetic, SLA
policies and KPI clocks.

Pure and synchronous: time comes in as an argument, nothing here reads a
clock or touches I/O except ``sla.store`` and ``sla.tables`` (the shell's
persistence, used by gateway/sla_runtime.py).
"""

from sla.calendar import ALWAYS_OPEN, BusinessHours, Calendar
from sla.clock import Change, KpiBoard, KpiEvent, KpiInstance, KpiStatus
from sla.config import CalendarConfig, KpiConfig, SlaPolicy, check_references
from sla.errors import IllegalTransition, NeverOpen, SlaError
from sla.policies import Applicable, Policies

__all__ = [
    "ALWAYS_OPEN",
    "Applicable",
    "BusinessHours",
    "Calendar",
    "CalendarConfig",
    "Change",
    "IllegalTransition",
    "KpiBoard",
    "KpiConfig",
    "KpiEvent",
    "KpiInstance",
    "KpiStatus",
    "NeverOpen",
    "Policies",
    "SlaError",
    "SlaPolicy",
    "check_references",
]
