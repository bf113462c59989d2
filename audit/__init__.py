"""The audit log: security-relevant actions, stored, read by admins.

Who signed in or failed to, whose password, role or account state changed
and by whom, which API keys were made or revoked, who exported a report,
who merged which case or customer into which.
Rows are only ever added. ``GET /api/v1/audit`` reads them (admins only).
"""

from audit.store import AuditEntry, AuditStore

ACTIONS = (
    "login_succeeded",
    "login_failed",
    "login_throttled",
    "user_created",
    "password_changed",
    "role_changed",
    "account_disabled",
    "account_enabled",
    "api_key_created",
    "api_key_revoked",
    "report_exported",
    "case_merged",
    "customer_merged",
)
"""Every ``action`` the log holds."""

__all__ = ["ACTIONS", "AuditEntry", "AuditStore"]
