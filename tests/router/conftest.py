import pytest

from tests.router.helpers import Driver


@pytest.fixture
def d() -> Driver:
    """A router with the default config (one queue, 3 per channel)."""
    return Driver()
