"""Deterministic benchmark corpus (SPEC 11): ~20 KB messages, a fifth with attachments,
a third with encoded Polish headers, senders drawn from the seeded CRM contacts/accounts."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.header import Header
from email.utils import format_datetime
from datetime import UTC, datetime, timedelta

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if "
    "so no will more about time can like other into some could them then our offer invoice "
    "order meeting contract delivery payment report project quarter budget customer support "
    "faktura zamówienie spotkanie umowa dostawa płatność raport projekt klient wsparcie "
    "żółw źdźbło gęślą jaźń łódź ćma się już będzie proszę dziękuję pozdrawiam"
).split()
FIRST = ["Jan", "Anna", "Piotr", "Katarzyna", "Łukasz", "Małgorzata", "Paweł", "Zofia",
         "Michał", "Agnieszka", "Grzegorz", "Ewa", "Tomasz", "Joanna", "Krzysztof", "Żaneta"]
LAST = ["Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński",
        "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Krawczyk"]
POLISH_SUBJECTS = ["Zażółć gęślą jaźń", "Faktura za usługi - październik", "Pilne: zamówienie",
                   "Spotkanie w Łodzi", "Prośba o wycenę", "Reklamacja dostawy", "Umowa ramowa"]
SUBJECTS = ["Quarterly report", "Invoice overdue", "Meeting next week", "Order confirmation",
            "Question about delivery", "Contract draft", "Support request", "Price list"]
FREE_DOMAINS = ["gmail.example", "wp.example", "onet.example", "outlook.example"]


@dataclass
class Crm:
    """The CRM rows the bench seeds so that binding finds real matches."""

    accounts: list[tuple[str, str]] = field(default_factory=list)  # (name, domain)
    contacts: list[tuple[str, str, str, int]] = field(default_factory=list)  # first, last, email, account idx


def make_crm(seed: int = 1, accounts: int = 300, contacts: int = 1500) -> Crm:
    rnd = random.Random(seed)
    crm = Crm()
    for i in range(accounts):
        crm.accounts.append((f"Firma {i} Sp. z o.o.", f"firma{i}.example"))
    for i in range(contacts):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        acc = rnd.randrange(accounts)
        crm.contacts.append((first, last, f"c{i}.{acc}@{crm.accounts[acc][1]}", acc))
    return crm


def _encoded(text: str, rnd: random.Random) -> str:
    """RFC 2047 encoded-word in UTF-8 or ISO-8859-2, base64 or quoted-printable."""
    charset = rnd.choice(["utf-8", "iso-8859-2"])
    return Header(text, charset).encode()


def _body(rnd: random.Random, size: int) -> str:
    words = rnd.choices(WORDS, k=max(8, size // 6))
    lines, line = [], []
    for i, word in enumerate(words, 1):
        line.append(word)
        if i % 12 == 0:
            lines.append(" ".join(line))
            line = []
    lines.append(" ".join(line))
    return "\r\n".join(lines)


def messages(count: int, crm: Crm, seed: int = 1, mailbox: str = "bench@mail.corpmail.test",
             prefix: str = "m") -> Iterator[bytes]:
    """``count`` raw RFC 5322 messages (CRLF), the same bytes for the same seed."""
    rnd = random.Random(seed * 7919 + 17)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(count):
        roll = rnd.random()
        if roll < 0.6:  # a known contact
            first, last, addr, _ = rnd.choice(crm.contacts)
        elif roll < 0.8:  # an unknown person at a known account's domain
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            addr = f"x{rnd.randrange(10**6)}@{rnd.choice(crm.accounts)[1]}"
        else:  # somebody outside the CRM
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            addr = f"u{rnd.randrange(10**6)}@{rnd.choice(FREE_DOMAINS)}"
        polish = rnd.random() < 1 / 3
        attach = rnd.random() < 0.2
        if polish:
            subject = _encoded(f"{rnd.choice(POLISH_SUBJECTS)} nr {i}", rnd)
            name = _encoded(f"{first} {last}", rnd)
        else:
            subject = f"{rnd.choice(SUBJECTS)} #{i}"
            name = f'"{first} {last}"'.encode("ascii", "replace").decode()
            name = name.replace("?", "_")
        cc = ""
        if rnd.random() < 0.3:
            cc = f"Cc: {rnd.choice(crm.contacts)[2]}\r\n"
        date = format_datetime(start + timedelta(minutes=i * 7 + rnd.randrange(7)))
        head = (f"From: {name} <{addr}>\r\nTo: <{mailbox}>\r\n{cc}Subject: {subject}\r\n"
                f"Date: {date}\r\nMessage-ID: <{prefix}{i}.{seed}@bench.corpmail.test>\r\n"
                "MIME-Version: 1.0\r\n")
        text = _body(rnd, int(rnd.uniform(6_000, 26_000) if not attach else rnd.uniform(2_000, 8_000)))
        payload = text.encode("utf-8")
        if not attach:
            raw = (head + "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + payload + b"\r\n"
        else:
            boundary = f"=_bench_{i}_{seed}"
            blob = rnd.randbytes(int(rnd.uniform(15_000, 45_000)))
            b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
            raw = (
                (head + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                 f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\n").encode()
                + payload
                + (f"\r\n--{boundary}\r\nContent-Type: application/pdf\r\n"
                   f'Content-Disposition: attachment; filename="dokument-{i}.pdf"\r\n'
                   "Content-Transfer-Encoding: base64\r\n\r\n").encode()
                + b64
                + f"--{boundary}--\r\n".encode()
            )
        yield raw
