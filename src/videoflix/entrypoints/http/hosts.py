"""The ``Host`` header, checked strictly on every request, then against ``ALLOWED_HOSTS`` as Django reads it.

Strictly (S24): a DNS name or an IP address (IPv6 in brackets), then an optional numeric port 1-65535, and nothing
else, also with ``ALLOWED_HOSTS=*``. Anything looser reaches places that build URLs from the host: a port that is
not a number made Litestar's URL parser raise (a 500), and ``localhost:@evil.example`` ended up in the absolute
``thumbnail_url`` of the catalog, where a browser reads it as the host ``evil.example``.

``ALLOWED_HOSTS``: host names, ports ignored, ``.example.com`` for a domain and its subdomains, ``*`` for any.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from videoflix.entrypoints.http.errors import send_error

INVALID_HOST = "Invalid host header."
# Labels of letters, digits and hyphens (underscores too: container names such as compose's have them), no hyphen
# at either end; an optional trailing dot. IPv4 addresses match it too and are then checked as addresses.
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_PORT = re.compile(r"[0-9]{1,5}")
_MAX_NAME = 253
_CACHED_HOSTS = 256  # distinct Host values remembered per process: the check runs on the hot streaming path too


def split_host(host: str) -> tuple[str, str | None] | None:
    """``(name, port)`` of a well-formed ``Host`` value (name lower-cased, IPv6 with its brackets), else None."""
    host = host.lower()
    if host.startswith("["):
        address, bracket, rest = host[1:].partition("]")
        if not bracket or not _is_ipv6(address):
            return None
        name = f"[{address}]"
    else:
        name, colon, port = host.partition(":")
        rest = colon + port
        if not _is_name(name):
            return None
    if not rest:
        return name, None
    port = rest[1:]
    if rest[0] != ":" or not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        return None
    return name, port


def _is_ipv6(address: str) -> bool:
    if "%" in address:  # a zone id ("fe80::1%eth0") names an interface of the client's machine, not a host
        return False
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def _is_name(name: str) -> bool:
    if len(name) > _MAX_NAME or not _NAME.fullmatch(name):
        return False
    last = name.rstrip(".").rsplit(".", 1)[-1]
    if last.isdigit():  # no top-level domain is numeric: this is meant as an IPv4 address, so it must be one
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return False
    return True


def host_allowed(host: str, allowed: list[str]) -> bool:
    """A well-formed ``host`` whose name (port ignored) matches ``allowed`` (Django's ``ALLOWED_HOSTS``)."""
    parts = split_host(host)
    if parts is None:
        return False
    name = parts[0].removesuffix(".")  # "example.com." is example.com, as in Django
    for pattern in allowed:
        pattern = pattern.strip().lower()
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith(".") and (name == pattern[1:] or name.endswith(pattern)):
            return True
    return False


class AllowedHostsMiddleware:
    """Outermost but for the request log: 404s, 405s and CORS preflights are checked too. A request without a
    ``Host`` header (HTTP/1.0) is served for the address it reached; an empty or repeated one is refused."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        allowed = list(allowed_hosts)
        self._allowed = lru_cache(maxsize=_CACHED_HOSTS)(lambda raw: host_allowed(raw.decode("latin-1"), allowed))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            hosts = [value for name, value in scope["headers"] if name == b"host"]
            if hosts and (len(hosts) > 1 or not self._allowed(hosts[0])):
                await send_error(send, 400, INVALID_HOST, scope.get("state", {}).get("request_id"))
                return
        await self.app(scope, receive, send)
