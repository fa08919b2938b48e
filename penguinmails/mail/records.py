"""The DNS records a sending domain publishes, and how an answer is judged against them.

Pure functions: `expected_records` says what to publish (SPF, DKIM, DMARC, MX, tracking
CNAME); `judge` compares what a resolver answered with one expected record. The
verification activity does the DNS queries and stores the per-record results.

- SPF: `v=spf1 ip4:... -all` with the IPs assigned to the domain, or the mailbox
  provider's `include:` (with `~all`) while none are. Passes when there is exactly one
  `v=spf1` record (two are a permerror, RFC 7208 4.5) holding every expected mechanism.
- DKIM: TXT at `{selector}._domainkey.{domain}`; passes when its `p=` is our public key.
- DMARC: TXT at `_dmarc.{domain}`, published `p=none` with a reporting address to start;
  passes on one `v=DMARC1` record with a `p=` tag (the tenant may tighten the policy).
- MX: the platform's inbound host, for replies; passes when it is among the exchanges.
- tracking: CNAME `track.{domain}` to the platform's tracking host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from penguinmails.mail import dkim_keys

PURPOSES = ("spf", "dkim", "dmarc", "mx", "tracking")
TRACKING_LABEL = "track"

# A host name: LDH labels of 1-63 octets, 253 at most, at least two labels, a TLD that is
# not all digits (so no IP address passes). IDNs arrive here already in their A-label form.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)+(?!\d+$){_LABEL}$")


class InvalidDomain(ValueError):
    pass


def normalize_domain(value: str) -> str:
    """Lower-case A-label form of a host name; InvalidDomain when it is not one."""
    text = value.strip().rstrip(".").lower()
    try:
        ascii_form = text.encode("idna").decode("ascii") if text else ""
    except UnicodeError:
        raise InvalidDomain(f"{value!r} is not a valid domain name") from None
    if not _DOMAIN.match(ascii_form):
        raise InvalidDomain(f"{value!r} is not a valid domain name")
    return ascii_form


@dataclass(frozen=True)
class ExpectedRecord:
    purpose: str  # one of PURPOSES
    type: str  # TXT, MX, CNAME
    name: str
    value: str
    priority: int | None = None  # MX

    def as_dict(self) -> dict[str, object]:
        return {
            "purpose": self.purpose,
            "type": self.type,
            "name": self.name,
            "value": self.value,
            "priority": self.priority,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ExpectedRecord:
        priority = data.get("priority")
        return cls(
            purpose=str(data["purpose"]),
            type=str(data["type"]),
            name=str(data["name"]),
            value=str(data["value"]),
            priority=priority if isinstance(priority, int) else None,
        )


@dataclass(frozen=True)
class Judgement:
    passed: bool
    detail: str


def tracking_host(domain: str) -> str:
    return f"{TRACKING_LABEL}.{domain}"


def spf_value(ips: Sequence[str], include: str) -> str:
    if ips:
        mechanisms = [
            f"ip6:{ip}" if ip_address(ip).version == 6 else f"ip4:{ip}" for ip in sorted(ips)
        ]
        return "v=spf1 " + " ".join(mechanisms) + " -all"
    return f"v=spf1 include:{include} ~all"


def expected_records(
    domain: str,
    *,
    selector: str,
    dkim_public_b64: str,
    spf_ips: Sequence[str],
    spf_include: str,
    dmarc_report_email: str,
    mx_host: str,
    tracking_target: str,
) -> list[ExpectedRecord]:
    return [
        ExpectedRecord("spf", "TXT", domain, spf_value(spf_ips, spf_include)),
        ExpectedRecord(
            "dkim",
            "TXT",
            dkim_keys.record_name(selector, domain),
            dkim_keys.record_value(dkim_public_b64),
        ),
        ExpectedRecord(
            "dmarc",
            "TXT",
            f"_dmarc.{domain}",
            f"v=DMARC1; p=none; rua=mailto:{dmarc_report_email}; adkim=r; aspf=r",
        ),
        ExpectedRecord("mx", "MX", domain, mx_host, priority=10),
        ExpectedRecord("tracking", "CNAME", tracking_host(domain), tracking_target),
    ]


def _tags(value: str) -> dict[str, str]:
    tags = {}
    for part in value.split(";"):
        name, sep, tag_value = part.partition("=")
        if sep:
            tags[name.strip().lower()] = re.sub(r"\s+", "", tag_value)
    return tags


def _host(value: str) -> str:
    return value.strip().rstrip(".").lower()


def judge(expected: ExpectedRecord, found: Sequence[str]) -> Judgement:
    """`found`: the answers of a query for (expected.name, expected.type), as text (TXT
    strings joined, MX/CNAME targets)."""
    if expected.purpose == "spf":
        spf = [v for v in found if v.lower().startswith("v=spf1")]
        if not spf:
            return Judgement(False, f"no SPF (v=spf1) TXT record at {expected.name}")
        if len(spf) > 1:
            return Judgement(False, "more than one SPF record (a permanent error for receivers)")
        have = {t.lower() for t in spf[0].split()[1:]}
        wanted = {t.lower() for t in expected.value.split()[1:-1]}
        missing = sorted(wanted - have)
        if missing:
            return Judgement(False, f"the SPF record lacks {' '.join(missing)}")
        return Judgement(True, "SPF record found")
    if expected.purpose == "dkim":
        wanted_key = _tags(expected.value)["p"]
        keys = [_tags(v).get("p") for v in found if "p=" in v]
        if not keys:
            return Judgement(False, f"no DKIM key at {expected.name}")
        if wanted_key not in keys:
            return Judgement(False, "the DKIM record holds another public key")
        return Judgement(True, "DKIM key matches")
    if expected.purpose == "dmarc":
        dmarc = [_tags(v) for v in found if v.upper().startswith("V=DMARC1")]
        if len(dmarc) != 1:
            return Judgement(
                False,
                f"no DMARC record at {expected.name}"
                if not dmarc
                else "more than one DMARC record",
            )
        if "p" not in dmarc[0]:
            return Judgement(False, "the DMARC record has no p= policy")
        return Judgement(True, f"DMARC policy p={dmarc[0]['p']}")
    if expected.purpose in ("mx", "tracking"):
        hosts = {_host(v) for v in found}
        if _host(expected.value) in hosts:
            return Judgement(True, f"{expected.type} points to {_host(expected.value)}")
        if not hosts:
            return Judgement(False, f"no {expected.type} record at {expected.name}")
        return Judgement(
            False, f"{expected.type} points to {', '.join(sorted(hosts))}, not {expected.value}"
        )
    raise ValueError(f"unknown record purpose {expected.purpose!r}")


__all__ = [
    "PURPOSES",
    "ExpectedRecord",
    "InvalidDomain",
    "Judgement",
    "expected_records",
    "judge",
    "normalize_domain",
    "spf_value",
    "tracking_host",
]
