"""Autologin blueprint: open a mailbox in Roundcube, the top bar, My mail, the plugin's endpoints."""

from flask import Blueprint

bp = Blueprint("autologin", __name__)

from corpmail.autologin import views  # noqa: E402,F401
