"""Which addresses the web tools may reach: never this machine, its networks or cloud metadata.

A page or message the agent reads can ask it to fetch a URL; if that URL points inside (a service
on loopback, the LAN, ``169.254.169.254``), the answer would leak what only this machine can see.
So the ``http`` and ``web_fetch`` tools refuse, by the address a host name resolves to, loopback,
link-local, private, shared (100.64.0.0/10), unspecified, multicast and reserved addresses and
their IPv6 counterparts (IPv4 addresses inside IPv6 ones are judged as IPv4), unless
``tools.network.allow`` names the host or a network holding the address. The check runs again on
every redirect, and the connection goes to the address that was checked (see
``aman.tools.builtin.pinned``), so a name cannot resolve to one address for the check and another
for the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aman.tools.model import CallBlocked

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: The rule name a refusal carries (in the result, the audit record and ``tool:security_denied``).
RULE = "internal_address"
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

Resolver = Callable[[str, int], Awaitable[list[str]]]


def refusal(address: IPAddress) -> str | None:
    """Why the web tools may not reach ``address`` (a few words), or None when they may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None)
        if embedded is not None:
            return refusal(embedded)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_link_local:
        return "a link-local address (this network segment, cloud metadata)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared address (carrier-grade NAT, 100.64.0.0/10)"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or (isinstance(address, ipaddress.IPv6Address)
                              and address.is_site_local):
        return "a private address (a local network)"
    return None


@dataclass(frozen=True)
class NetworkPolicy:
    """``tools.network.allow``: host names and networks the web tools may reach anyway."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, allow: Iterable[str]) -> NetworkPolicy:
        """Entries that parse as an address or CIDR are networks; the rest are host names."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in allow:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(_host_key(entry))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """Whether ``host`` is allowed by name."""
        return _host_key(host) in self.hosts

    def check(self, host: str, address: IPAddress) -> None:
        """Raise ``CallBlocked`` when ``address`` (what ``host`` resolved to) is refused."""
        why = refusal(address)
        if why is None or any(address in network for network in self.networks):
            return
        named = f"{host} resolves to {address}" if host != str(address) else f"{address} is"
        raise CallBlocked(RULE, f"{named}, {why}; the web tools do not reach inside (allow it "
                                "with tools.network.allow)")


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the system resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_address(host: str, port: int, policy: NetworkPolicy,
                          resolve: Resolver = system_resolve) -> str:
    """The address to connect to for ``host``: every address it resolves to must pass, and the
    first is used (an allowed host name is returned as it is, resolved by the connection)."""
    if policy.allows_host(host):
        return host
    key = _host_key(host)
    try:
        literal: IPAddress | None = ipaddress.ip_address(key)
    except ValueError:
        literal = None
    if literal is not None:
        policy.check(host, literal)
        return str(literal)
    try:
        found = await resolve(key, port)
    except OSError as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from exc
    if not found:
        raise OSError(f"cannot resolve {host}: no address")
    addresses = [ipaddress.ip_address(raw.split("%", 1)[0]) for raw in found]
    for address in addresses:
        policy.check(host, address)
    return str(addresses[0])
