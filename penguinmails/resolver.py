"""The platform's DNS resolver (dnspython), configurable with `DNS_RESOLVER`.

`DNS_RESOLVER` is `host:port` (or `host`, port 53); unset means the system's resolvers. The
dev stack and the tests point it at their loopback DNS server.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.asyncresolver
import dns.resolver


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or (host.count(":") and not host.startswith("[")):  # bare IPv6 or bare host
        return address.strip().strip("[]"), 53
    return host.strip("[]"), int(port)


def _configure(resolver: dns.resolver.BaseResolver, address: str | None, timeout: float) -> None:
    if address:
        host, port = parse_address(address)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = None  # verification must see a record as soon as it is published


def async_resolver(address: str | None, timeout: float = 5.0) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=not address)
    _configure(resolver, address, timeout)
    return resolver


def sync_resolver(address: str | None, timeout: float = 5.0) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=not address)
    _configure(resolver, address, timeout)
    return resolver


def dkim_dnsfunc(address: str | None) -> Callable[..., bytes]:
    """A `dnsfunc` for dkimpy (`name, timeout -> TXT bytes`) through this resolver."""
    resolver = sync_resolver(address)

    def txt(name: bytes | str, timeout: float = 5) -> bytes:
        qname = name.decode() if isinstance(name, bytes) else name
        try:
            answer = resolver.resolve(qname.rstrip("."), "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return b""
        return b"".join(b"".join(r.strings) for r in answer)

    return txt


__all__ = ["async_resolver", "dkim_dnsfunc", "parse_address", "sync_resolver"]
