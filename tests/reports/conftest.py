"""The browser fixtures (Chromium, page errors) for the KPI panel's test."""

from tests.browser.conftest import browser, page_errors

__all__ = ["browser", "page_errors"]
