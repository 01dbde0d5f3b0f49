"""Template helpers: dates in the viewer's locale, the admin menu."""

from __future__ import annotations

from flask import Flask
from flask_babel import format_datetime, get_locale


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.globals["get_locale"] = get_locale

    @app.template_filter("dt")
    def _dt(value, fmt: str = "short") -> str:
        return format_datetime(value, fmt) if value else "—"

    @app.template_filter("duration")
    def _duration(seconds) -> str:
        if seconds is None:
            return "—"
        return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
