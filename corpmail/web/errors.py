"""Error pages in the product's layout: 400 (e.g. an expired form), 403, 404, 413, 429."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

# code -> (icon, title, what the person can do about it)
_PAGES = {
    400: ("exclamation-octagon", _l("Bad request"), _l(
        "The request could not be processed. If you were sending a form, it may have "
        "expired: go back, reload the page and try again.")),
    403: ("shield-lock", _l("Access denied"), _l(
        "You do not have permission to open this page. If you think you should, "
        "ask an administrator.")),
    404: ("question-circle", _l("Page not found"), _l(
        "The page or record you are looking for does not exist, or it was removed.")),
    413: ("file-earmark-x", _l("Too much data"), _l(
        "The form sent more data than the server accepts. Shorten the long fields and "
        "try again.")),
    429: ("hourglass-split", _l("Too many attempts"), _l(
        "There were too many attempts in a short time (for example, wrong passwords). "
        "Wait a few minutes and try again.")),
}


def register_error_handlers(app: Flask) -> None:
    def handle(error: HTTPException):
        if error.response is not None:  # an answer of its own (the plugin's JSON endpoints)
            return error.response
        icon, title, message = _PAGES[error.code]
        page = render_template(
            "errors/error.html", code=error.code, icon=icon, title=title, message=message
        )
        return page, error.code

    for code in _PAGES:
        app.register_error_handler(code, handle)
