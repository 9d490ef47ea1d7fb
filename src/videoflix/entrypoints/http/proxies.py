"""The one place that believes a proxy: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` from ``TRUSTED_PROXIES``.

Behind nginx the app sees nginx's address and plain http. When the connection comes from a trusted proxy, Granian's
proxy-headers wrapper rewrites the ASGI scope before anything else reads it: ``client`` becomes the first address
of the ``X-Forwarded-For`` chain that is not a trusted proxy, and ``scheme`` the forwarded one. So the rate limits
see the real client (S15), the CSRF check compares ``Origin`` with the public https origin, and absolute URLs
(``thumbnail_url``) start with ``https://``. From any other peer the headers are ignored.
"""

from __future__ import annotations

import ipaddress
from typing import cast

from granian.utils.proxies import wrap_asgi_with_proxy_headers
from litestar.types import ASGIApp, Scope


class TrustedProxies:
    def __init__(self, networks: list[str]) -> None:
        self.networks = [ipaddress.ip_network(network, strict=False) for network in networks]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, scope: Scope) -> bool:
        """The connection's peer (before any rewriting) is one of our proxies."""
        client = scope.get("client")
        if not self.networks or not client:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind the rewriting of client and scheme; unchanged when no proxy is trusted."""
        if not self.networks:
            return app
        return cast("ASGIApp", wrap_asgi_with_proxy_headers(app, [str(network) for network in self.networks]))
