"""Login, logout, dashboard."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from corpmail.extensions import db, limiter
from corpmail.forms import BaseForm
from corpmail.models import Email, ScanRun, Ticket, User
from corpmail.web import bp


class LoginForm(BaseForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField(_l("Remember me"))
    submit = SubmitField(_l("Log in"))


class ProfileForm(BaseForm):
    name = StringField(_l("Name"), validators=[Length(max=120)])
    language = SelectField(_l("Language"), choices=[("en", "English"), ("pl", "Polski")])
    submit = SubmitField(_l("Save"))


def _safe_next(target: str | None) -> str:
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("web.index")


def _posted_account() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


def _login_failed(response) -> bool:
    """Only failures count against the limits: a wrong password shows the form again (200),
    a login redirects. So a person who types their password right is never slowed down, and
    a lock-out ends by itself when the window has passed."""
    return response.status_code == 200


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"],
               deduct_when=_login_failed)
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], methods=["POST"],
               key_func=_posted_account, deduct_when=_login_failed)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(
            select(User).where(func.lower(User.email) == form.email.data.strip().lower())
        )
        if user and user.active and user.check_password(form.password.data):
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong e-mail or password."), "danger")
    return render_template("web/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    from corpmail.autologin.tokens import end_sessions

    # Roundcube sessions opened from this CRM login end with it (the plugin checks).
    end_sessions(user_id=current_user.id)
    # Server-side: this cookie, and any copy of it, no longer names a logged-in user.
    current_user.log_out_everywhere()
    db.session.commit()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("web.login"))


@bp.route("/")
@login_required
def index():
    counts = {
        "emails": db.session.scalar(select(func.count(Email.id))),
        "open_tickets": db.session.scalar(
            select(func.count(Ticket.id)).where(Ticket.status.not_in(["Closed", "Rejected"]))
        ),
    }
    recent = db.session.scalars(select(Email).order_by(Email.id.desc()).limit(10)).all()
    last_run = db.session.scalar(select(ScanRun).order_by(ScanRun.id.desc()).limit(1))
    return render_template("web/index.html", counts=counts, recent=recent, last_run=last_run)


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """The user's own settings: display name and UI language."""
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        current_user.name = form.name.data.strip()
        current_user.language = form.language.data
        db.session.commit()
        refresh()  # the confirmation below already in the new language
        flash(_("Settings saved."), "success")
        return redirect(url_for("web.profile"))
    return render_template("web/profile.html", form=form)
