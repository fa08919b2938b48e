import dns.resolver
import pytest

from devstack.dns import DnsServer, Zone
from penguinmails.resolver import parse_address, sync_resolver


def test_records_are_served_and_removed(dns_server: DnsServer, dns_zone: Zone) -> None:
    resolver = sync_resolver(dns_server.address)
    long_value = "v=DKIM1; k=rsa; p=" + "A" * 400
    dns_zone.add("Sel1._domainkey.Example.TEST", "TXT", long_value)
    dns_zone.add("example.test", "MX", "mx.example.test", priority=5)
    dns_zone.add("track.example.test", "CNAME", "t.penguinmails.test")
    dns_zone.add("t.penguinmails.test", "A", "127.0.0.1")

    txt = resolver.resolve("sel1._domainkey.example.test", "TXT")
    assert b"".join(txt[0].strings) == long_value.encode()  # split over 255-octet strings
    assert len(txt[0].strings) == 2
    mx = resolver.resolve("example.test", "MX")
    assert (mx[0].preference, mx[0].exchange.to_text()) == (5, "mx.example.test.")
    cname = resolver.resolve("track.example.test", "CNAME")
    assert cname[0].target.to_text() == "t.penguinmails.test."

    dns_zone.remove_domain("example.test")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("example.test", "MX")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("nothing.example.test", "TXT")


def test_tcp_answers_too(dns_server: DnsServer, dns_zone: Zone) -> None:
    dns_zone.set("tcp.example.test", "TXT", ["v=spf1 -all"])
    answer = sync_resolver(dns_server.address).resolve("tcp.example.test", "TXT", tcp=True)
    assert answer[0].strings == (b"v=spf1 -all",)


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_address("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_address("[::1]:5353") == ("::1", 5353)
