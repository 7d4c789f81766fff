"""Which addresses the web tools may reach: the rules as a table, the allow list, resolution."""

from __future__ import annotations

import ipaddress

import pytest

from aman.tools.addresses import RULE, NetworkPolicy, checked_address, refusal
from aman.tools.model import CallBlocked

#: Address → the word its refusal must contain (None: reachable).
TABLE = [
    ("127.0.0.1", "loopback"), ("127.255.10.3", "loopback"), ("::1", "loopback"),
    ("169.254.169.254", "link-local"), ("169.254.0.1", "link-local"), ("fe80::1", "link-local"),
    ("10.0.0.5", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.168.1.20", "private"), ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("fec0::1", "private"), ("100.64.0.1", "shared"), ("100.127.255.254", "shared"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"), ("0.1.2.3", "private"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "link-local"),
    ("64:ff9b::a9fe:a9fe", "link-local"), ("2002:c0a8:0101::1", "private"),
    ("93.184.216.34", None), ("1.1.1.1", None), ("100.63.255.255", None), ("172.32.0.1", None),
    ("2606:4700:4700::1111", None), ("::ffff:8.8.8.8", None), ("64:ff9b::808:808", None),
]


@pytest.mark.parametrize(("raw", "word"), TABLE)
def test_address_rules(raw: str, word: str | None) -> None:
    why = refusal(ipaddress.ip_address(raw))
    if word is None:
        assert why is None, f"{raw} refused: {why}"
    else:
        assert why is not None and word in why, f"{raw}: {why}"


def test_the_allow_list_takes_host_names_and_networks() -> None:
    policy = NetworkPolicy.parse(["NAS.home.", "192.168.1.0/24", "::1"])
    assert policy.allows_host("nas.home") and not policy.allows_host("other.home")
    policy.check("printer", ipaddress.ip_address("192.168.1.7"))
    policy.check("::1", ipaddress.ip_address("::1"))
    with pytest.raises(CallBlocked) as caught:
        policy.check("router", ipaddress.ip_address("192.168.2.1"))
    assert caught.value.rule == RULE
    assert "router resolves to 192.168.2.1" in caught.value.reason
    assert "tools.network.allow" in caught.value.reason


def resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such name")
        return table[host]
    return resolve


async def test_a_name_is_refused_when_any_of_its_addresses_is_inside() -> None:
    names = resolver({"public.test": ["93.184.216.34"],
                      "rebind.test": ["93.184.216.34", "127.0.0.1"],
                      "meta.test": ["169.254.169.254"]})
    policy = NetworkPolicy.parse([])
    assert await checked_address("public.test", 80, policy, names) == "93.184.216.34"
    for host in ("rebind.test", "meta.test"):
        with pytest.raises(CallBlocked):
            await checked_address(host, 80, policy, names)
    with pytest.raises(OSError, match="cannot resolve nowhere.test"):
        await checked_address("nowhere.test", 80, policy, names)


async def test_literals_are_checked_without_resolving_and_allowed_names_are_not_checked() -> None:
    names = resolver({})
    with pytest.raises(CallBlocked):
        await checked_address("[::1]", 80, NetworkPolicy.parse([]), names)
    assert await checked_address("8.8.8.8", 80, NetworkPolicy.parse([]), names) == "8.8.8.8"
    allowed = NetworkPolicy.parse(["localhost"])
    assert await checked_address("localhost", 80, allowed, names) == "localhost"
    assert await checked_address("127.0.0.1", 80, NetworkPolicy.parse(["127.0.0.0/8"]),
                                 names) == "127.0.0.1"
