"""Error pages in the product's layout: 400 (e.g. an expired form), 403, 404."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

_PAGES = {
    400: ("errors/400.html", _l("Bad request")),
    403: ("errors/403.html", _l("Access denied")),
    404: ("errors/404.html", _l("Page not found")),
}


def register_error_handlers(app: Flask) -> None:
    def handle(error: HTTPException):
        template, title = _PAGES[error.code]
        return render_template(template, error=error, title=title), error.code

    for code in _PAGES:
        app.register_error_handler(code, handle)
