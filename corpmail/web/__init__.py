"""Web blueprint: login, logout, the dashboard."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from corpmail.web import views  # noqa: E402,F401
