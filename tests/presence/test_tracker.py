import pytest

from presence import PresenceSettings, PresenceTracker, StatusCatalog, UnknownStatus


def tracker(**settings: object) -> PresenceTracker:
    t = PresenceTracker(PresenceSettings.model_validate(settings))
    t.add("a")
    return t


def test_new_agent_is_offline_and_takes_no_work() -> None:
    t = tracker()
    assert t.effective("a") == "offline"
    assert not t.takes_work("a")


def test_connect_brings_an_offline_agent_to_on_connect_status() -> None:
    t = tracker()
    assert t.connect("a") == "available"
    assert t.takes_work("a")
    t2 = tracker(on_connect=None)
    assert t2.connect("a") is None
    assert not t2.takes_work("a")


def test_status_must_be_known() -> None:
    t = tracker(statuses=[{"name": "lunch"}])
    assert t.set_status("a", "lunch") == "lunch"
    with pytest.raises(UnknownStatus, match="unknown presence status 'nap'"):
        t.set_status("a", "nap")


def test_custom_status_says_whether_it_accepts_work() -> None:
    catalog = StatusCatalog([("lunch", False), ("backoffice", True)])
    assert catalog.accepting == {"available", "backoffice"}
    assert not catalog.accepts("lunch")


def test_disconnect_starts_grace_and_expiry_goes_offline() -> None:
    t = tracker(grace=30)
    t.connect("a")
    assert t.disconnect("a", 100.0) == 130.0
    assert not t.takes_work("a")  # no new work while disconnected
    assert t.effective("a") == "available"  # but keeps the status during grace
    epoch = t.grace_epoch("a")
    assert t.expire_grace("a", epoch, 129.0) is None
    assert t.expire_grace("a", epoch, 130.0) == "offline"


def test_reconnect_within_grace_cancels_it() -> None:
    t = tracker(grace=30)
    t.connect("a")
    t.disconnect("a", 0.0)
    epoch = t.grace_epoch("a")
    t.connect("a")
    assert t.expire_grace("a", epoch, 30.0) is None
    assert t.effective("a") == "available"


def test_extra_disconnects_are_ignored() -> None:
    t = tracker()
    assert t.disconnect("a", 0.0) is None
    t.connect("a")
    t.connect("a")
    assert t.disconnect("a", 0.0) is None  # one tab is still open
    assert t.takes_work("a")


def test_busy_at_capacity_shows_busy_only_while_full() -> None:
    t = tracker(busy_at_capacity=True)
    t.connect("a")
    assert t.set_full("a", True) == "busy"
    assert t.chosen("a") == "available"
    assert t.set_full("a", False) == "available"
    t2 = tracker()
    t2.connect("a")
    assert t2.set_full("a", True) is None


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"statuses": [{"name": "busy"}]}, "clashes with a built-in"),
        ({"statuses": [{"name": "x"}, {"name": "x"}]}, "defined twice"),
        ({"on_connect": "nap"}, "on_connect = 'nap' is not a known status"),
        ({"grace": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_presence_settings_are_rejected(settings: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        PresenceSettings.model_validate(settings)
