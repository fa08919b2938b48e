import pytest

from penguinmails.mail.records import (
    ExpectedRecord,
    InvalidDomain,
    expected_records,
    judge,
    normalize_domain,
    spf_value,
)


def records(**kw: object) -> dict[str, ExpectedRecord]:
    base: dict[str, object] = {
        "selector": "pm202611",
        "dkim_public_b64": "MIIBIjANBgkq",
        "spf_ips": [],
        "spf_include": "_spf.provider.test",
        "dmarc_report_email": "dmarc@platform.test",
        "mx_host": "mx.platform.test",
        "tracking_target": "track.platform.test",
    }
    base.update(kw)
    return {r.purpose: r for r in expected_records("acme.test", **base)}  # type: ignore[arg-type]


def test_expected_records() -> None:
    r = records()
    assert (r["spf"].type, r["spf"].name, r["spf"].value) == (
        "TXT",
        "acme.test",
        "v=spf1 include:_spf.provider.test ~all",
    )
    assert r["dkim"].name == "pm202611._domainkey.acme.test"
    assert r["dkim"].value == "v=DKIM1; k=rsa; p=MIIBIjANBgkq"
    assert r["dmarc"].name == "_dmarc.acme.test"
    assert r["dmarc"].value.startswith("v=DMARC1; p=none; rua=mailto:dmarc@platform.test")
    assert (r["mx"].type, r["mx"].value, r["mx"].priority) == ("MX", "mx.platform.test", 10)
    assert (r["tracking"].type, r["tracking"].name) == ("CNAME", "track.acme.test")
    assert ExpectedRecord.from_dict(r["mx"].as_dict()) == r["mx"]


def test_spf_lists_assigned_ips_instead_of_the_include() -> None:
    assert spf_value(["203.0.113.9", "2001:db8::1"], "x.test") == (
        "v=spf1 ip6:2001:db8::1 ip4:203.0.113.9 -all"
    )


def test_judgements() -> None:
    r = records(spf_ips=["203.0.113.9"])
    assert judge(r["spf"], ["v=spf1 ip4:203.0.113.9 include:other.test -all"]).passed
    assert not judge(r["spf"], ["v=spf1 include:other.test -all"]).passed
    assert "more than one" in judge(r["spf"], ["v=spf1 -all", "v=spf1 ~all"]).detail
    assert not judge(r["spf"], ["google-site-verification=x"]).passed
    assert judge(r["dkim"], ["v=DKIM1; k=rsa; p=MIIB IjANBgkq"]).passed  # spaces ignored
    assert not judge(r["dkim"], ["v=DKIM1; k=rsa; p=OTHER"]).passed
    assert not judge(r["dkim"], []).passed
    assert judge(r["dmarc"], ["v=DMARC1; p=reject"]).passed  # a stricter policy is fine
    assert not judge(r["dmarc"], ["v=DMARC1; rua=mailto:x@y.test"]).passed
    assert judge(r["mx"], ["MX.platform.test.", "backup.other.test."]).passed
    assert "not mx.platform.test" in judge(r["mx"], ["mx.other.test."]).detail
    assert judge(r["tracking"], ["track.platform.test."]).passed
    assert not judge(r["tracking"], []).passed


def test_normalize_domain() -> None:
    assert normalize_domain(" Mail.Example.COM. ") == "mail.example.com"
    assert normalize_domain("bücher.example") == "xn--bcher-kva.example"
    for bad in ("", "localhost", "exa mple.com", "-a.com", "a-.com", "1.2.3.4", "a..b",
                "x" * 64 + ".com", "a_b.com", "http://a.com", "a.com/x", "@a.com"):  # fmt: skip
        with pytest.raises(InvalidDomain):
            normalize_domain(bad)
