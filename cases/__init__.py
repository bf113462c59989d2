"""Cases: one customer issue tracked across channels, agents and time.

The pure cores: the case lifecycle (``lifecycle``, a transition table), the
case and its moves (``model``), the business process flow (``stages``),
entitlements (``entitlements``), record creation rules and follow-ups
(``records``) and device alerts (``alerts``). ``store`` keeps them; the
HTTP shell is ``gateway/cases_api.py`` and ``gateway/cases_runtime.py``.
"""

from cases.config import CasesConfig, RecordRule
from cases.entitlements import Entitlement, EntitlementKind, EntitlementState
from cases.errors import (
    CaseError,
    EntitlementRefused,
    IllegalTransition,
    MissingResolution,
    StageIncomplete,
)
from cases.lifecycle import CaseEvent, CaseStatus
from cases.model import Case, Priority

__all__ = [
    "Case",
    "CaseError",
    "CaseEvent",
    "CaseStatus",
    "CasesConfig",
    "Entitlement",
    "EntitlementKind",
    "EntitlementRefused",
    "EntitlementState",
    "IllegalTransition",
    "MissingResolution",
    "Priority",
    "RecordRule",
    "StageIncomplete",
]
