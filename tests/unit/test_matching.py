"""Pure matching helpers: addresses, domains, ticket numbers, direction, skip rules."""

from __future__ import annotations

from corpmail.scanner.filters import exception_match
from corpmail.scanner.matching import (
    Matches,
    bindable_addresses,
    direction_of,
    domain_of,
    domains_of,
    normalize_addresses,
    ticket_numbers,
)


def test_normalize_addresses_lowercases_dedupes_and_drops_junk():
    assert normalize_addresses(["Jan@Client.Example", " jan@client.example ", "", None,
                                "not-an-address", "<b@x.example>"]) == [
        "jan@client.example", "b@x.example"]


def test_domains():
    assert domain_of("a@Sub.Client.Example") == "sub.client.example"
    assert domain_of("nodomain") == ""
    assert domains_of(["a@x.example", "b@X.example", "c@y.example"]) == ["x.example", "y.example"]


def test_users_never_bind():
    internal = {"admin@corp.example", "box@corp.example"}
    assert bindable_addresses(["Admin@Corp.example", "jan@client.example", "box@corp.example"],
                              internal) == ["jan@client.example"]


def test_ticket_numbers_in_subjects():
    assert ticket_numbers("Re: [TT123] Printer") == ["TT123"]
    assert ticket_numbers("Re: [tt123] and [TT 7] and [TT123]") == ["TT123", "TT7"]
    assert ticket_numbers("Fwd: [hd0042] old prefix", prefix="TT") == ["HD42"]
    assert ticket_numbers("[SUP5]", prefix="Sup") == ["Sup5"]
    assert ticket_numbers("TT123 without brackets, [123] digits only, [TT] no digits") == []
    assert ticket_numbers("") == [] and ticket_numbers(None) == []


def test_direction():
    internal = {"me@corp.example", "boss@corp.example"}
    assert direction_of("jan@client.example", ["me@corp.example"], internal) == "Received"
    assert direction_of("me@corp.example", ["jan@client.example"], internal) == "Sent"
    assert direction_of("ME@corp.example", ["boss@corp.example"], internal) == "Internal"
    assert direction_of("me@corp.example", ["boss@corp.example", "x@y.example"], internal) == "Sent"
    assert direction_of("me@corp.example", [], internal) == "Sent"
    # an alias in a Sent folder
    assert direction_of("alias@corp.example", ["x@y.example"], internal, "Sent") == "Sent"
    assert direction_of("", [], internal) == "Received"


def test_contact_binds_its_account_once():
    found = Matches(contacts=[(1, 10, "a@x"), (2, 10, "b@x")], accounts=[10, 11], leads=[5],
                    tickets=[7])
    assert found.links() == [("contact", 1), ("account", 10), ("contact", 2), ("account", 11),
                             ("lead", 5), ("ticket", 7)]


def test_exception_match():
    assert exception_match(["A@Spam.example"], set(), {"spam.example"}) == "@spam.example"
    assert exception_match(["a@sub.spam.example"], set(), {"spam.example"}) is None
    assert exception_match(["x@ok.example", "Bad@Ok.example"], {"bad@ok.example"}, set()) == "bad@ok.example"
    assert exception_match([], {"a@b"}, {"b"}) is None
