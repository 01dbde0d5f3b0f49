"""Which SASL mechanism carries a bearer token: XOAUTH2 where offered, else OAUTHBEARER."""

from __future__ import annotations

import pytest

from corpmail.mail.imap import oauth_mechanism


@pytest.mark.parametrize(("capabilities", "expected"), [
    (["IMAP4REV1", "AUTH=PLAIN", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"], "XOAUTH2"),  # Dovecot, Gmail
    (["IMAP4REV1", "AUTH=XOAUTH2"], "XOAUTH2"),  # Outlook
    (["IMAP4REV1", "auth=oauthbearer"], "OAUTHBEARER"),
    (["IMAP4REV1", "AUTH=PLAIN"], "XOAUTH2"),  # says nothing: the common one
])
def test_mechanism_choice(capabilities, expected):
    assert oauth_mechanism(capabilities) == expected
