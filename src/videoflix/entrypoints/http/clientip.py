"""The client's address, trusting ``X-Forwarded-For`` only from configured proxies (S15)."""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection


class ClientAddress:
    def __init__(self, trusted_proxies: list[str]) -> None:
        self._networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def of(self, request: ASGIConnection[Any, Any, Any, Any]) -> str:
        peer = request.client.host if request.client else "unknown"
        if not self._networks or not self._trusted(peer):
            return peer
        # Walk the chain from the nearest hop; the first address that is not one of our proxies is the client.
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return peer
