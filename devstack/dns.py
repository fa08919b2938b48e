"""A loopback DNS server (dnslib) whose zone changes at run time.

The tests run one per test session; the dev stack runs one that publishes the expected
records of every domain added, so add domain -> verify -> send works without a registrar.
The platform's resolver (`DNS_RESOLVER`) points at it. It answers authoritatively for every
name it holds records for, NXDOMAIN for the rest (it forwards nothing), over UDP and TCP.

TXT values longer than 255 octets (a 2048-bit DKIM key) are split into several
character-strings, as a registrar does; resolvers join them back.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    name: str
    type: str
    value: str
    ttl: int = 60
    priority: int = 10  # MX only


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


def _rdata(record: Record) -> Any:
    kind = record.type.upper()
    if kind == "A":
        return A(record.value)
    if kind == "AAAA":
        return AAAA(record.value)
    if kind == "CNAME":
        return CNAME(_fqdn(record.value))
    if kind == "MX":
        return MX(_fqdn(record.value), record.priority)
    if kind == "PTR":
        return PTR(_fqdn(record.value))
    if kind == "TXT":
        data = record.value.encode("utf-8")
        return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])
    raise ValueError(f"unsupported record type {record.type!r}")


class Zone(BaseResolver):
    """The records, keyed by lower-case FQDN; thread-safe (dnslib answers from threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, list[Record]] = {}

    def add(self, name: str, type: str, value: str, ttl: int = 60, priority: int = 10) -> None:
        record = Record(_fqdn(name), type.upper(), value, ttl, priority)
        _rdata(record)  # validate now, not when queried
        with self._lock:
            existing = self._records.setdefault(record.name, [])
            if record not in existing:
                existing.append(record)

    def set(self, name: str, type: str, values: list[str], ttl: int = 60) -> None:
        """Replace every `type` record at `name` with `values`."""
        self.remove(name, type)
        for value in values:
            self.add(name, type, value, ttl)

    def remove(self, name: str, type: str | None = None) -> None:
        key = _fqdn(name)
        with self._lock:
            kept = [r for r in self._records.get(key, []) if type and r.type != type.upper()]
            if kept:
                self._records[key] = kept
            else:
                self._records.pop(key, None)

    def discard(self, record: Record) -> None:
        """Remove exactly this record (as returned by `records()`)."""
        with self._lock:
            kept = [r for r in self._records.get(record.name, []) if r != record]
            if kept:
                self._records[record.name] = kept
            else:
                self._records.pop(record.name, None)

    def add_record(self, record: Record) -> Record:
        self.add(record.name, record.type, record.value, record.ttl, record.priority)
        return Record(_fqdn(record.name), record.type.upper(), record.value, record.ttl,
                      record.priority)  # fmt: skip

    def remove_domain(self, domain: str) -> None:
        """Every record at `domain` and below it."""
        suffix = "." + _fqdn(domain)
        with self._lock:
            for key in [k for k in self._records if k == suffix[1:] or k.endswith(suffix)]:
                del self._records[key]

    def records(self, name: str | None = None) -> list[Record]:
        with self._lock:
            if name is not None:
                return list(self._records.get(_fqdn(name), []))
            return [r for rs in self._records.values() for r in rs]

    # dnslib calls this from its server threads.
    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            found = list(self._records.get(qname, []))
        if not found:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        cnames = [r for r in found if r.type == "CNAME"]
        answers = cnames if cnames and qtype != "CNAME" else found
        for record in answers:
            if qtype in (record.type, "ANY") or record.type == "CNAME":
                reply.add_answer(
                    RR(
                        DNSLabel(record.name),
                        getattr(QTYPE, record.type),
                        rdata=_rdata(record),
                        ttl=record.ttl,
                    )
                )
        return reply


class DnsServer:
    """The zone served on `host:port` over UDP and TCP, from threads of this process."""

    def __init__(self, port: int, host: str = "127.0.0.1", zone: Zone | None = None) -> None:
        self.host = host
        self.port = port
        self.zone = zone or Zone()
        self._servers: list[DNSServer] = []

    @property
    def address(self) -> str:
        """`host:port`, the form of the DNS_RESOLVER setting."""
        return f"{self.host}:{self.port}"

    def start(self) -> DnsServer:
        quiet = DNSLogger(log="-request,-reply,-truncated,-data", prefix=False)
        for tcp in (False, True):
            server = DNSServer(self.zone, address=self.host, port=self.port, tcp=tcp, logger=quiet)
            server.start_thread()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers = []

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """`python -m devstack.dns`: an empty zone on its own, until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5353)
    args = parser.parse_args()
    with DnsServer(args.port, args.host) as server:
        print(f"DNS server on {server.address}")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
