"""The ASCII fast path never disagrees with email-validator, the authority."""

from __future__ import annotations

import string

from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from penguinmails.leads.emails import (
    InvalidAddress,
    address_hash,
    fast_normalize,
    is_disposable,
    is_role_account,
    normalize,
    normalize_domain,
)

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
local = st.text(alphabet=ATEXT + "..", min_size=1, max_size=70)
label = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=66)
domain = st.lists(label, min_size=1, max_size=4).map(".".join)
tld = st.sampled_from(["com", "ORG", "de", "io", "test", "local", "x", "c0m", "museum", "xn--p1ai"])
addresses = st.one_of(
    st.builds(lambda a, d, t: f"{a}@{d}.{t}", local, domain, tld),
    st.text(max_size=80),
    st.emails().map(str),
)


@settings(max_examples=3000, deadline=None)
@given(addresses)
@example("Foo.Bar@Example.COM")
@example("a--b@ab--cd.com")
@example("x@xn--80ak6aa92e.com")
@example("a@localhost.test")
@example(".a@b.com")
@example("a..b@b.com")
@example("a@-b.com")
@example("a@b-.com")
@example("INFO@0.com")
@example("Postmaster@example.org")
def test_whatever_the_fast_path_accepts_email_validator_accepts_the_same(raw: str) -> None:
    fast = fast_normalize(raw)
    if fast is None:
        return
    try:
        info = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:  # pragma: no cover - the property
        raise AssertionError(f"fast path accepted {raw!r}, email-validator: {exc}") from None
    assert info.normalized == fast


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=80).filter(lambda v: "@" not in v and v.strip()))
@example("not-an-address-7")
@example("ｆｏｏ＠example.com")  # a full-width @ is not an @-sign  # noqa: RUF001
@example("Ann <ann>")
def test_no_at_sign_is_refused_in_email_validators_words(raw: str) -> None:
    try:
        validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        expected = f"invalid e-mail address: {exc}"
    else:  # pragma: no cover - the property
        raise AssertionError(f"email-validator accepted {raw!r}")
    try:
        normalize(raw)
    except InvalidAddress as exc:
        assert str(exc) == expected
    else:  # pragma: no cover - the property
        raise AssertionError(f"accepted {raw!r}")


@settings(max_examples=500, deadline=None)
@given(addresses)
def test_normalize_agrees_with_email_validator(raw: str) -> None:
    try:
        expected = validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got = normalize(raw).normalized
    except InvalidAddress:
        got = None
    if raw.strip() and expected is not None:
        assert got == expected
    if expected is None:
        assert got is None


def test_normalisation_and_flags() -> None:
    a = normalize("  Foo.Bar@Example.COM ")
    assert (a.normalized, a.key, a.domain) == (
        "Foo.Bar@example.com",
        "foo.bar@example.com",
        "example.com",
    )
    idn = normalize("zoë@Exämple.de")
    assert idn.domain == "xn--exmple-cua.de" and idn.key == "zoë@exämple.de"
    assert address_hash(" A@B.com ") == address_hash("a@b.com")
    assert is_role_account("Sales@x.com") and is_role_account("info+x@x.com")
    assert not is_role_account("alice@x.com")
    assert is_disposable("mailinator.com") and is_disposable("eu.mailinator.com")
    assert not is_disposable("example.com")
    assert normalize_domain("@Exämple.DE.") == "xn--exmple-cua.de"
