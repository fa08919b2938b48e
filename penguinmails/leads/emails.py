"""Address validation and normalisation for imports, suppressions and sending.

`email-validator` is the authority on syntax (no network). At about 19,000 addresses/s a
core it cannot carry a million-row import alone, so `fast_normalize` sits in front of it: a
strict ASCII pattern that only ever *accepts* (anything it does not recognise goes to
`email-validator`). A property test proves that whatever it accepts, `email-validator`
accepts and normalises to the same string.

Normalisation: trimmed, domain lower-cased and IDNA-checked; the local part keeps its case
(it may matter to the receiving server). The dedup key and the suppression hash use the
whole address lower-cased.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

# One pass of a flat pattern (no nested repetition), then a few string checks: about five
# times cheaper than a structural regex.
_FAST = re.compile(r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64})@([A-Za-z0-9.-]{4,253})")
SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})

ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "accounts", "admin", "administrator", "billing", "careers", "contact",
        "enquiries", "help", "hello", "hostmaster", "hr", "info", "inquiries", "jobs",
        "mail", "marketing", "media", "no-reply", "noreply", "office", "postmaster", "press",
        "privacy", "sales", "security", "service", "support", "team", "webmaster",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Address:
    normalized: str  # what is stored and sent to
    key: str  # lower-cased: the dedup key
    domain: str  # ASCII (IDNA) lower-case domain: suppression by domain

    @property
    def hash(self) -> str:
        return address_hash(self.key)


class InvalidAddress(ValueError):
    pass


def fast_normalize(raw: str) -> str | None:
    """The normalised address when the strict ASCII path recognises it, else None
    (which means "ask email-validator", never "invalid")."""
    m = _FAST.fullmatch(raw)
    if m is None:
        return None
    local, domain = m.groups()
    # A file repeats a few thousand domains at most: each is checked once.
    checked = _FAST_DOMAINS.get(domain, _UNSEEN)
    if checked is _UNSEEN:
        if len(_FAST_DOMAINS) >= _FAST_DOMAINS_MAX:
            _FAST_DOMAINS.clear()
        checked = _FAST_DOMAINS[domain] = _fast_domain(domain)
    if checked is None:
        return None
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:  # RFC 2142: postmaster, info...
        local = local.lower()
    if local[0] == "." or local[-1] == "." or ".." in local:
        return None
    return f"{local}@{checked}"


_UNSEEN = object()
_FAST_DOMAINS: dict[str, object] = {}
_FAST_DOMAINS_MAX = 16_384


def _fast_domain(raw: str) -> str | None:
    """The lower-cased domain when the fast path takes it, else None."""
    domain = raw.lower()
    # Labels: no empty one, none starting or ending with `-`; no `--` at all (IDNA forbids
    # it in places, Punycode has it: the authority decides).
    if domain[0] in ".-" or domain[-1] == "-" or ".." in domain or "--" in domain:
        return None
    if ".-" in domain or "-." in domain:
        return None
    dot = domain.rfind(".")
    tld = domain[dot + 1 :]
    if dot < 1 or len(tld) < 2 or len(tld) > 63 or not tld.isalpha() or tld in SPECIAL_USE_TLDS:
        return None
    if len(domain) > 63 and max(len(label) for label in domain.split(".")) > 63:
        return None
    return domain


# email-validator's own words for an address without an @-sign (a test holds them equal).
NO_AT_SIGN = "invalid e-mail address: An email address must have an @-sign."


def normalize(raw: str) -> Address:
    """Validate and normalise one address; raises InvalidAddress with the reason."""
    value = raw.strip()
    if not value:
        raise InvalidAddress("missing e-mail address")
    fast = fast_normalize(value)
    if fast is not None:
        return Address(fast, fast.lower(), fast[fast.index("@") + 1 :])
    if value.isascii() and "@" not in value and "<" not in value:
        # The commonest invalid value, refused without the slow path (a look-alike of `@`
        # or a display name `<...>` gets email-validator's own, more precise reason).
        raise InvalidAddress(NO_AT_SIGN)
    try:
        info = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"invalid e-mail address: {exc}") from None
    normalized = info.normalized
    return Address(normalized, normalized.lower(), info.ascii_domain.lower())


def address_hash(address: str) -> str:
    """sha256 hex of the trimmed, lower-cased address: how `suppressions` keeps people."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def normalize_domain(raw: str) -> str:
    """A suppression domain: trimmed, without a leading `@`, ASCII (IDNA), lower-case."""
    value = raw.strip().lstrip("@").rstrip(".").lower()
    try:
        info = validate_email(f"x@{value}", check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"invalid domain: {exc}") from None
    return info.ascii_domain.lower()


def is_role_account(address: str) -> bool:
    local = address.rsplit("@", 1)[0].lower()
    return local in ROLE_LOCAL_PARTS or local.split("+", 1)[0] in ROLE_LOCAL_PARTS


@lru_cache(maxsize=1)
def disposable_domains() -> frozenset[str]:
    text = resources.files("penguinmails.leads").joinpath("data/disposable_domains.txt")
    return frozenset(
        line.strip()
        for line in text.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )


def is_disposable(domain: str) -> bool:
    domains = disposable_domains()
    parts = domain.split(".")
    return any(".".join(parts[i:]) in domains for i in range(len(parts) - 1))


@lru_cache(maxsize=1)
def free_mail_domains() -> frozenset[str]:
    text = resources.files("penguinmails.leads").joinpath("data/free_mail_domains.txt")
    return frozenset(
        line.strip().lower()
        for line in text.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )


def is_free_mail(domain: str) -> bool:
    """A free-mail provider's domain: it names no company (stop-for-company skips it)."""
    return domain.strip().lower() in free_mail_domains()
