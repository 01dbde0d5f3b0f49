"""sanitize_html (store time), render_email_html (view time) and html_to_text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corpmail.mail.html import html_to_text, render_email_html, sanitize_html
from corpmail.mail.message import parse_message

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


@pytest.mark.parametrize("dirty,forbidden", [
    ("<p>hi</p><script>alert(1)</script>", ["<script", "alert"]),
    ('<img src="https://x.test/a.png" onerror="alert(1)">', ["onerror", "alert"]),
    ('<a href="javascript:alert(1)">x</a>', ["javascript:"]),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', ["avascript", "alert"]),
    ('<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>', ["data:"]),
    ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', ["data:"]),
    ('<svg onload="alert(1)"><circle r="1"/></svg>', ["svg", "onload", "alert"]),
    ('<base href="https://evil.test/">', ["<base", "evil"]),
    ('<meta http-equiv="refresh" content="0;url=https://evil.test/">', ["<meta", "evil"]),
    ('<form action="https://evil.test/"><input name="p"><button>Go</button></form>',
     ["<form", "<input", "evil", "<button"]),
    ('<iframe src="https://evil.test/"></iframe><object data="x"></object><embed src="y">',
     ["iframe", "object", "embed", "evil"]),
    ('<link rel="stylesheet" href="https://evil.test/a.css"><style>body{}</style>',
     ["<link", "<style", "body{}"]),
    ('<div style="background:url(https://t.test/x.png);color:red;position:fixed">x</div>',
     ["url(", "position"]),
    ('<table><tr><td background="javascript:alert(1)">x</td></tr></table>', ["javascript"]),
    ('<p class="position-fixed top-0" id="login">x</p>', ["class=", "id="]),
    ('<img src="/admin/delete">', ["/admin"]),
    ('<a href="https://ok.test/" onclick="steal()">x</a>', ["onclick", "steal"]),
    ('<math><mi xlink:href="javascript:alert(1)">x</mi></math>', ["javascript"]),
])
def test_dangerous_html_is_removed(dirty, forbidden):
    clean = sanitize_html(dirty)
    for needle in forbidden:
        assert needle.lower() not in clean.lower(), clean


def test_safe_formatting_survives():
    dirty = (
        '<div style="color: #333; font-family: Arial; margin: 0 4px">'
        '<table border="1" cellpadding="2"><tr><td bgcolor="#eee" colspan="2">cell</td></tr>'
        '</table><font color="red">red</font><b>b</b><i>i</i><ul><li>li</li></ul>'
        '<img src="cid:logo@firma" alt="logo" width="20"><img src="https://cdn.test/p.gif">'
        '<a href="mailto:jan@firma.pl">mail</a><blockquote>q</blockquote></div>'
    )
    clean = sanitize_html(dirty)
    for kept in ('style="color:#333', 'bgcolor="#eee"', 'colspan="2"', '<font color="red">',
                 'src="cid:logo@firma"', 'src="https://cdn.test/p.gif"', 'href="mailto:',
                 "<blockquote>", "<li>li</li>"):
        assert kept in clean, clean


def test_links_open_in_a_new_tab_without_referrer():
    clean = sanitize_html('<a href="https://firma.pl/x?a=1&amp;b=2" target="_self">x</a>')
    assert 'target="_blank"' in clean and 'rel="noopener noreferrer"' in clean
    assert "_self" not in clean and 'href="https://firma.pl/x?a=1&amp;b=2"' in clean


def test_cid_images_are_rewritten_and_remote_images_blocked():
    clean = sanitize_html(
        '<img src="cid:logo@firma"><img src="CID:Other%40Part">'
        '<img src="https://track.test/p.gif?u=1&amp;v=2" alt="t">'
        '<table background="http://bg.test/x.png"><tr><td>x</td></tr></table>'
        '<p>src="https://in.text/" stays text</p>'
    )
    urls = {"logo@firma": "/emails/1/att/5?x=1&y=2", "Other@Part": "/emails/1/att/6"}
    html, had_remote = render_email_html(clean, allow_remote=False, cid_urls=urls)
    assert had_remote
    assert 'src="/emails/1/att/5?x=1&amp;y=2"' in html and 'src="/emails/1/att/6"' in html
    assert "cid:" not in html.lower()
    assert not re.search(r'\ssrc="https?:', html) and not re.search(r'\sbackground="', html)
    assert 'data-blocked-src="https://track.test/p.gif?u=1&amp;v=2"' in html
    assert 'data-blocked-background="http://bg.test/x.png"' in html
    assert 'src="https://in.text/" stays text' in html  # text content untouched

    html, had_remote = render_email_html(clean, allow_remote=True, cid_urls=urls)
    assert had_remote and 'src="https://track.test/p.gif?u=1&amp;v=2"' in html
    assert 'background="http://bg.test/x.png"' in html and "data-blocked" not in html


def test_no_remote_content_reported_when_there_is_none():
    html, had_remote = render_email_html(sanitize_html('<p>Hi <img src="cid:a"></p>'), False, {})
    assert not had_remote and 'src="cid:a"' in html  # unknown cid left as is (broken image)


def test_corpus_html_sanitizes_and_renders():
    m = parse_message((CORPUS / "attachment_inline1.eml").read_bytes())
    clean = sanitize_html(m.html)
    urls = {a.content_id: f"/att/{i}" for i, a in enumerate(m.attachments)}
    html, _ = render_email_html(clean, allow_remote=False, cid_urls=urls)
    assert 'src="/att/0"' in html and "cid:" not in html
    assert "<meta" not in html and "<style" not in html


def test_html_to_text():
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<p>Dzień\n   dobry</p>Linia<br>druga<table><tr><td>a</td><td>b</td></tr></table>"
        "<pre>  kod\n  wcięty</pre>&amp; &lt;tag&gt; &nbsp;x<script>alert(1)</script>"
        "<!-- komentarz --></body></html>"
    )
    assert html_to_text(html) == "Dzień dobry\nLinia\ndruga\n\na b\n\nkod\nwcięty\n& <tag> x"
    assert html_to_text("") == "" and html_to_text("1 < 2 > 0") == "1 < 2 > 0"
