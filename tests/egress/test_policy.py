"""The egress policy, pure: which addresses are public, what the allow-list
and the config's own destinations lift."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from egress import Policy, not_public, parse_network
from egress.policy import embedded_ipv4

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not_public(ip) == why
    reason = Policy().refusal(ip, 443, plain_http=False)
    assert reason is not None and "non-public" in reason and "fetch_allow" in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not_public(ip) is None
    assert Policy().refusal(ip, 443, plain_http=False) is None


def test_the_allow_list_lifts_its_networks_and_only_them() -> None:
    policy = Policy(allow=(parse_network("127.0.0.1/32"), parse_network("10.0.0.0/8")))
    for allowed in ("127.0.0.1", "10.200.0.1", "::ffff:127.0.0.1"):
        assert policy.refusal(ipaddress.ip_address(allowed), 80, plain_http=True) is None
    for refused in ("127.0.0.2", "169.254.169.254", "192.168.0.1", "::1"):
        assert policy.refusal(ipaddress.ip_address(refused), 443, plain_http=False) is not None


def test_plain_http_needs_the_allow_list_even_to_a_public_address() -> None:
    reason = Policy().refusal(ipaddress.ip_address("8.8.8.8"), 80, plain_http=True)
    assert reason is not None and "plain http" in reason


def test_a_configured_literal_destination_is_reachable_at_its_port_only() -> None:
    policy = Policy().for_destinations(["http://127.0.0.1:5005/webhooks/rest/webhook"])
    loopback = ipaddress.ip_address("127.0.0.1")
    assert policy.refusal(loopback, 5005, plain_http=False) is None
    assert policy.plain_http_named("127.0.0.1", 5005)
    assert policy.refusal(loopback, 5006, plain_http=False) is not None
    assert not policy.plain_http_named("127.0.0.1", 5006)


def test_localhost_in_the_config_names_loopback() -> None:
    policy = Policy().for_destinations(["http://localhost:8000/bot"])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1"), 8000, plain_http=False) is None
    assert policy.refusal(ipaddress.ip_address("::1"), 8000, plain_http=False) is None


def test_a_configured_link_local_destination_still_needs_the_allow_list() -> None:
    policy = Policy().for_destinations(["http://169.254.169.254/latest/meta-data/"])
    reason = policy.refusal(ipaddress.ip_address("169.254.169.254"), 80, plain_http=False)
    assert reason is not None and "link-local" in reason


def test_a_configured_host_name_grants_no_address() -> None:
    policy = Policy().for_destinations(["http://bots.internal:8080/hook"])
    assert policy.destinations == frozenset()
    assert policy.refusal(ipaddress.ip_address("10.0.0.5"), 8080, plain_http=False) is not None


def test_bad_networks_are_named() -> None:
    with pytest.raises(ValueError, match="'not-a-net'"):
        parse_network("not-a-net")


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_and_its_mapped_ipv6_form_are_judged_alike(
    ip: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    policy = Policy(allow=(parse_network("10.0.0.0/8"),))
    assert (policy.refusal(ip, 443, plain_http=False) is None) == (
        policy.refusal(mapped, 443, plain_http=False) is None
    )
    assert not_public(ip) == not_public(mapped)


@given(st.ip_addresses())
def test_only_global_unicast_passes_the_default_policy(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if Policy().refusal(ip, 443, plain_http=False) is None:
        inner = embedded_ipv4(ip)  # a mapped or tunnelled form is judged by its IPv4
        assert inner.is_global and not inner.is_multicast and not inner.is_reserved
