"""E-mail HTML: sanitising at store time (nh3), remote/cid handling at view time, HTML to text.

Choices (see SPEC §4.1):
- `<style>` blocks and `class`/`id` attributes are dropped: a message's CSS or our own
  Bootstrap classes must not restyle the CRM page around it.
- `style` attributes are kept, filtered to a list of layout/typography properties by nh3
  (`filter_style_properties`). Properties that can carry `url(...)` (background, background-image,
  list-style, border-image, content, cursor...) are not on the list, so CSS cannot load remote
  content or run `javascript:`; legacy `expression()` only works in IE and only in properties we
  drop or that browsers ignore.
- Link and image URLs: only http, https, mailto and cid; relative URLs are removed (with no
  `<base>` they would point at the CRM itself). `data:` URLs are not kept at all, images
  included: inline images in mail come as `cid:` parts, and data: documents are an XSS vector.
- `srcset` is not kept (nh3 does not check its URLs); `background` attributes are kept for
  render_email_html to allow or block like `src`.
"""

from __future__ import annotations

import re
from html import escape, unescape
from urllib.parse import unquote

import nh3

_TAGS = set(nh3.ALLOWED_TAGS) | {
    "font", "big", "center", "address", "section", "main", "tfoot", "caption", "u", "s",
    "nobr", "label", "legend", "fieldset", "span", "div", "img", "table", "tbody", "thead",
}
_TAGS -= {"map", "area"}  # image maps add links we do not rewrite
_COMMON = {"title", "dir", "lang", "align", "valign", "style", "width", "height", "bgcolor"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON,
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "border", "hspace", "vspace"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "background", "frame", "rules", "summary"},
    "td": {"background", "colspan", "rowspan", "nowrap", "headers", "scope", "abbr"},
    "th": {"background", "colspan", "rowspan", "nowrap", "headers", "scope", "abbr"},
    "tr": {"background"},
    "col": {"span"}, "colgroup": {"span"},
    "ol": {"start", "type", "reversed"}, "ul": {"type"}, "li": {"value", "type"},
    "blockquote": {"cite"}, "q": {"cite"}, "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"}, "time": {"datetime"}, "hr": {"size", "noshade", "color"},
    "bdo": {"dir"}, "data": {"value"},
}
_STYLE_PROPERTIES = {
    "color", "background-color", "opacity", "visibility", "display", "float", "clear",
    "vertical-align", "text-align", "text-decoration", "text-decoration-line",
    "text-decoration-color", "text-decoration-style", "text-indent", "text-transform",
    "text-overflow", "text-shadow", "white-space", "word-break", "word-spacing", "word-wrap",
    "overflow-wrap", "letter-spacing", "line-height", "direction", "unicode-bidi",
    "font", "font-family", "font-size", "font-style", "font-variant", "font-weight",
    "width", "height", "min-width", "min-height", "max-width", "max-height",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
    "border-style", "border-width", "border-radius", "border-collapse", "border-spacing",
    "border-top-color", "border-right-color", "border-bottom-color", "border-left-color",
    "border-top-style", "border-right-style", "border-bottom-style", "border-left-style",
    "border-top-width", "border-right-width", "border-bottom-width", "border-left-width",
    "outline", "overflow", "overflow-x", "overflow-y", "table-layout", "caption-side",
    "empty-cells", "list-style-type", "list-style-position", "box-sizing", "box-shadow",
}
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    # Tags whose content is code or metadata, not text: removed with their content.
    clean_content_tags={"script", "style", "title", "head", "template", "noscript",
                        "iframe", "object", "embed", "applet", "svg", "math", "textarea",
                        "select", "button", "xmp", "noembed", "noframes", "frameset"},
    attributes=_ATTRIBUTES,
    url_schemes={"http", "https", "mailto", "cid"},
    url_relative="deny",
    link_rel="noopener noreferrer",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    filter_style_properties=_STYLE_PROPERTIES,
    strip_comments=True,
)


def sanitize_html(html: str) -> str:
    """Store-time sanitising: safe tags/attributes only; remote and cid: images kept."""
    if not html:
        return ""
    clean = _CLEANER.clean(html)
    if 'background="' in clean:  # nh3 does not check this attribute's URL scheme
        clean = _TAG_RE.sub(lambda t: _BACKGROUND_RE.sub(_keep_safe_background, t.group(0)), clean)
    return clean


def _keep_safe_background(m: re.Match[str]) -> str:
    value = unescape(m.group(2)).strip().lower()
    return m.group(0) if value.startswith(("http:", "https:", "cid:")) else ""


# nh3 serialises every attribute double-quoted, so tags can be matched reliably even when a
# quoted value contains ">".
_TAG_RE = re.compile(r'<[a-zA-Z][^\s/>]*(?:\s+[^\s="/>]+(?:="[^"]*")?)*\s*/?>')
_BACKGROUND_RE = re.compile(r'(\s)background="([^"]*)"')
_URL_ATTR_RE = re.compile(r'(\s)(src|background|srcset)="([^"]*)"')


def render_email_html(
    sanitized: str, allow_remote: bool, cid_urls: dict[str, str]
) -> tuple[str, bool]:
    """View-time rewrite of sanitised HTML: cid: -> given URLs; remote content blocked.

    Blocked remote attributes become `data-blocked-<attr>` so the view can restore them on
    request. Returns (html, had_remote_content).
    """
    had_remote = False
    lowered_cids = {k.lower(): v for k, v in cid_urls.items()}

    def fix_attr(m: re.Match[str]) -> str:
        nonlocal had_remote
        space, attr, raw_value = m.groups()
        value = unescape(raw_value).strip()
        low = value.lower()
        if attr != "srcset" and low.startswith("cid:"):
            cid = value[4:].strip().strip("<>")
            url = cid_urls.get(cid) or cid_urls.get(unquote(cid)) or lowered_cids.get(cid.lower())
            if url is None:
                return m.group(0)
            return f'{space}{attr}="{escape(url)}"'
        if low.startswith(("http:", "https:", "//")) or (attr == "srcset" and "//" in low):
            had_remote = True
            if allow_remote:
                return m.group(0)
            return f'{space}data-blocked-{attr}="{raw_value}"'
        if attr == "src":
            return m.group(0)
        return ""  # background/srcset with any other scheme: not worth keeping

    def fix_tag(m: re.Match[str]) -> str:
        tag = m.group(0)
        if "src" not in tag and "background" not in tag:
            return tag
        return _URL_ATTR_RE.sub(fix_attr, tag)

    return _TAG_RE.sub(fix_tag, sanitized), had_remote


# HTML to text with regular expressions (C speed): HTMLParser cost ~10 ms per newsletter.
# Precision does not matter much here: the text is for search, previews and ticket bodies.
_DROP_RE = re.compile(
    r"<(script|style|head|title|template|noscript|xml)\b.*?</\1\s*>|<!--.*?-->|<!\[CDATA\[.*?\]\]>",
    re.IGNORECASE | re.DOTALL,
)
_PRE_RE = re.compile(r"<pre\b[^>]*>(.*?)</pre\s*>", re.IGNORECASE | re.DOTALL)
_BREAK_RE = re.compile(
    r"<(?:br|hr)\b[^>]*>|</?(?:p|div|tr|li|ul|ol|table|blockquote|h[1-6]|dl|dt|dd|section|"
    r"article|header|footer|address|center|form|fieldset|thead|tbody|tfoot|caption)\b[^>]*>",
    re.IGNORECASE,
)
_CELL_RE = re.compile(r"<t[dh]\b[^>]*>", re.IGNORECASE)
_TAG_STRIP_RE = re.compile(r"<[!/?a-zA-Z][^>]*>")
_WS_RE = re.compile(r"[ \t\r\n\f\v]+")
_SPACES_RE = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")
_PRE_MARK = "\x00pre{}\x00"


def html_to_text(html: str) -> str:
    """Readable plain text from HTML: tags stripped, block elements become line breaks."""
    if not html:
        return ""
    text = _DROP_RE.sub(" ", html)
    pres: list[str] = []

    def keep_pre(m: re.Match[str]) -> str:
        pres.append(unescape(_TAG_STRIP_RE.sub("", m.group(1))))
        return "<br>" + _PRE_MARK.format(len(pres) - 1) + "<br>"

    if "<pre" in text or "<PRE" in text:
        text = _PRE_RE.sub(keep_pre, text.replace("\x00", ""))
    text = _WS_RE.sub(" ", text)  # source line breaks are plain whitespace in HTML
    text = _CELL_RE.sub(" ", _BREAK_RE.sub("\n", text))
    text = unescape(_TAG_STRIP_RE.sub("", text))
    for i, pre in enumerate(pres):
        text = text.replace(_PRE_MARK.format(i), pre.replace("\r\n", "\n"))
    lines = (_SPACES_RE.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()
