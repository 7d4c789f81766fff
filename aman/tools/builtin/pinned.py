"""An httpx transport that connects only to checked addresses (see ``aman.tools.addresses``).

Each request (the first and every redirect httpx follows) has its host resolved and checked
here, then goes to that very address: the URL's host is replaced by it while the ``Host`` header
and the TLS server name keep the original name, so certificates are still verified for it.
"""

from __future__ import annotations

import ipaddress

import httpx

from aman.tools.addresses import NetworkPolicy, Resolver, checked_address, system_resolve


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks the destination of every request, then connects to the checked address."""

    def __init__(self, policy: NetworkPolicy, resolve: Resolver = system_resolve) -> None:
        self._policy = policy
        self._resolve = resolve
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Resolve and check the host (``CallBlocked`` when refused), then send to that address."""
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            address = await checked_address(host, port, self._policy, self._resolve)
        except OSError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        if address == host:
            return await self._inner.handle_async_request(request)
        extensions = dict(request.extensions)
        if request.url.scheme == "https" and not _is_literal(host):
            extensions["sni_hostname"] = host
        pinned = httpx.Request(request.method, request.url.copy_with(host=address),
                               headers=request.headers, stream=request.stream,
                               extensions=extensions)
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._inner.aclose()


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
