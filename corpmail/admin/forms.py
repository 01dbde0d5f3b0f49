"""WTForms for the admin pages: mail servers, scanner accounts, small action forms."""

from __future__ import annotations

import unicodedata

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from corpmail import validation
from corpmail.forms import BaseForm
from corpmail.models.mailboxes import SEARCH_FIELDS
from corpmail.oauth.providers import PROVIDERS

SECURITY_LABELS = [
    ("none", _l("None (plain text)")),
    ("ssl", _l("SSL/TLS")),
    ("starttls", _l("STARTTLS")),
]
AUTH_LABELS = [("basic", _l("Login and password")), ("oauth2", _l("OAuth 2.0"))]
SCAN_MODE_LABELS = [  # the order of SCAN_MODES
    ("auto", _l("Automatic: push when the server supports IDLE, else poll")),
    ("push", _l("Push (IMAP IDLE)")),
    ("poll", _l("Poll at the scan interval")),
]
OAUTH_PROVIDER_LABELS = [(name, provider.label) for name, provider in PROVIDERS.items()]
# Roundcube's identities_level, as its config documents it.
IDENTITIES_LEVELS = [
    (0, _l("0: many identities, every field editable")),
    (1, _l("1: many identities, e-mail address not editable")),
    (2, _l("2: one identity, every field editable")),
    (3, _l("3: one identity, e-mail address not editable")),
    (4, _l("4: one identity, only the signature editable")),
]
IMAP_DEFAULT_PORTS = {"none": 143, "starttls": 143, "ssl": 993}
SMTP_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
SEARCH_FIELD_LABELS = {
    "contacts.email": _l("Contacts: e-mail"),
    "contacts.secondary_email": _l("Contacts: secondary e-mail"),
    "accounts.email": _l("Accounts: e-mail"),
    "accounts.domains": _l("Accounts: domains"),
    "leads.email": _l("Leads: e-mail"),
    "tickets.number": _l("Tickets: number in the subject"),
}
FOLDER_ROLE_LABELS = {
    "Received": _l("Received"),
    "Sent": _l("Sent"),
    "Spam": _l("Spam"),
    "Trash": _l("Trash"),
    "All": _l("All"),
}
# Punctuation a label may reasonably carry; everything else must be a letter, digit or space.
_LABEL_PUNCTUATION = set(" ._-()&+,@/:'#")


def strip_filter(value):
    return value.strip() if isinstance(value, str) else value


def safe_label(form, field) -> None:
    """A display label: letters, digits, spaces and common punctuation (no markup, no emoji)."""
    for ch in field.data or "":
        if ch in _LABEL_PUNCTUATION or unicodedata.category(ch)[0] in "LN":
            continue
        raise ValidationError(_l("Use letters, digits, spaces and . _ - ( ) & + , @ / : ' # only."))


def host_validator(form, field) -> None:
    if not field.data:
        return
    try:
        field.data = validation.validate_host(field.data)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def oauth_url_validator(form, field) -> None:
    """A provider endpoint: https, or http only on this machine (a local test server)."""
    if not field.data:
        return
    try:
        field.data = validation.validate_oauth_url(field.data)
    except ValueError:
        raise ValidationError(_l("Give an https:// URL.")) from None


def port_validator(form, field) -> None:
    if field.data is None:
        return
    try:
        validation.validate_port(field.data)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class OrderedActionsField(Field):
    """Ordered subset of scanner actions: checkbox `<name>` plus number `<name>-order-<action>`.

    The page lets a person tick actions and move them up or down (JS renumbers the order
    inputs); without JS the numbers can be typed. data is the ordered list of names.
    """

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.data: list[str] = []

    def process(self, formdata, data=None, extra_filters=None):
        self.process_errors = []
        if formdata is None:
            self.data = list(data or self.default or [])
            return
        chosen = [v for v in formdata.getlist(self.name) if v]
        position: dict[str, float] = {}
        for index, name in enumerate(chosen):
            raw = formdata.get(f"{self.name}-order-{name}", "")
            try:
                position[name] = float(raw)
            except (TypeError, ValueError):
                position[name] = 1000 + index  # no number: after the numbered ones, in post order
        # Stable sort keeps the posted order among equal numbers.
        self.data = sorted(chosen, key=lambda n: position[n])

    def _value(self) -> str:
        return ",".join(self.data)


class MailServerForm(BaseForm):
    name = StringField(
        _l("Name"),
        filters=[strip_filter],
        validators=[DataRequired(), Length(min=1, max=50), safe_label],
    )
    active = BooleanField(_l("Active"), default=True)
    visible = BooleanField(_l("Visible to users (Roundcube)"), default=True)
    auth_method = SelectField(_l("Authentication"), choices=AUTH_LABELS, default="basic")

    imap_host = StringField(
        _l("IMAP host"),
        filters=[strip_filter],
        validators=[DataRequired(), Length(max=255), host_validator],
    )
    imap_security = SelectField(_l("IMAP security"), choices=SECURITY_LABELS, default="ssl")
    imap_port = IntegerField(
        _l("IMAP port"),
        validators=[Optional(), port_validator],
        description=_l("Empty: 143, or 993 with SSL/TLS."),
    )
    imap_validate_cert = BooleanField(_l("Validate the IMAP server's certificate"), default=True)

    smtp_host = StringField(
        _l("SMTP host"),
        filters=[strip_filter],
        validators=[Optional(), Length(max=255), host_validator],
        description=_l("Used by Roundcube to send mail. Empty: no sending."),
    )
    smtp_security = SelectField(_l("SMTP security"), choices=SECURITY_LABELS, default="starttls")
    smtp_port = IntegerField(
        _l("SMTP port"),
        validators=[Optional(), port_validator],
        description=_l("Empty: 25, 587 with STARTTLS, 465 with SSL/TLS."),
    )
    smtp_validate_cert = BooleanField(_l("Validate the SMTP server's certificate"), default=True)

    # OAuth 2.0 (auth_method "oauth2"); the provider's own endpoints unless given here.
    oauth_provider = SelectField(_l("OAuth 2.0 provider"), choices=OAUTH_PROVIDER_LABELS,
                                 default="google")
    oauth_client_id = StringField(
        _l("Client ID"), filters=[strip_filter], validators=[Length(max=255)]
    )
    # Not named like the model's property: the stored secret is never decrypted into the form.
    oauth_secret = PasswordField(
        _l("Client secret"),
        validators=[Length(max=1024)],
        description=_l("Stored encrypted and never shown. Leave empty to keep the current one."),
    )
    oauth_authorize_url = StringField(
        _l("Authorization URL"),
        filters=[strip_filter],
        validators=[Optional(), Length(max=500), oauth_url_validator],
    )
    oauth_token_url = StringField(
        _l("Token URL"),
        filters=[strip_filter],
        validators=[Optional(), Length(max=500), oauth_url_validator],
    )
    oauth_revoke_url = StringField(
        _l("Revocation URL (optional)"),
        filters=[strip_filter],
        validators=[Optional(), Length(max=500), oauth_url_validator],
    )
    oauth_scopes = StringField(
        _l("Scopes"),
        filters=[strip_filter],
        validators=[Length(max=1000)],
        description=_l("Separated by spaces. Empty: the provider's "
                       "(IMAP, SMTP and offline access)."),
    )

    rc_spellcheck = BooleanField(_l("Spell checking"), default=False)
    rc_ip_check = BooleanField(_l("Check the client IP of the session"), default=False)
    rc_identities_level = SelectField(
        _l("Identities level"), choices=IDENTITIES_LEVELS, coerce=int, default=0
    )

    # Only for Test connection: never stored.
    test_login = StringField(
        _l("Login (optional)"), filters=[strip_filter], validators=[Length(max=254)]
    )
    test_password = PasswordField(_l("Password (optional)"), validators=[Length(max=1024)])

    submit = SubmitField(_l("Save"))
    test = SubmitField(_l("Test connection"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.auth_method.data != "oauth2":
            return ok
        if not self.oauth_client_id.data:
            self.oauth_client_id.errors.append(_l("A client ID is required for OAuth 2.0."))
            ok = False
        provider = PROVIDERS.get(self.oauth_provider.data)
        if provider is not None and provider.needs_urls:
            for field in (self.oauth_authorize_url, self.oauth_token_url):
                if not field.data:
                    field.errors.append(_l("Required for another OAuth 2.0 server."))
                    ok = False
        return ok

    def fill_default_ports(self) -> None:
        if self.imap_port.data is None:
            self.imap_port.data = IMAP_DEFAULT_PORTS[self.imap_security.data]
        if self.smtp_port.data is None and self.smtp_host.data:
            self.smtp_port.data = SMTP_DEFAULT_PORTS[self.smtp_security.data]

    def apply_to(self, server) -> None:
        """Copy the stored fields (not the test credentials) onto a MailServer."""
        self.fill_default_ports()
        for name in (
            "name",
            "active",
            "visible",
            "auth_method",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_validate_cert",
            "smtp_security",
            "smtp_validate_cert",
            "rc_spellcheck",
            "rc_ip_check",
            "rc_identities_level",
        ):
            setattr(server, name, getattr(self, name).data)
        server.smtp_host = self.smtp_host.data or None
        server.smtp_port = self.smtp_port.data if self.smtp_host.data else None
        for name in ("oauth_provider", "oauth_client_id", "oauth_authorize_url",
                     "oauth_token_url", "oauth_revoke_url", "oauth_scopes"):
            setattr(server, name, getattr(self, name).data or None)
        if self.oauth_secret.data:
            server.oauth_client_secret = self.oauth_secret.data


class ConnectionTestForm(BaseForm):
    """Test connection from the server list: optional credentials for an IMAP login."""

    login = StringField(
        _l("Login (optional)"), filters=[strip_filter], validators=[Length(max=254)]
    )
    password = PasswordField(_l("Password (optional)"), validators=[Length(max=1024)])
    submit = SubmitField(_l("Test connection"))


def _list_validator(check, what):
    def validator(form, field) -> None:
        bad = []
        good = []
        for item in validation.split_list(field.data):
            try:
                good.append(check(item))
            except ValueError as exc:
                bad.append(str(exc))
        if bad:
            raise ValidationError("; ".join(bad[:5]) + (" …" if len(bad) > 5 else ""))
        field.data = "\n".join(dict.fromkeys(good))

    return validator


class ScannerAccountForm(BaseForm):
    name = StringField(
        _l("Name"),
        filters=[strip_filter],
        validators=[DataRequired(), Length(min=1, max=100), safe_label],
        description=_l("The label of the mailbox in the top bar."),
    )
    server_id = SelectField(_l("Mail server"), coerce=int, validators=[DataRequired()])
    login = StringField(
        _l("Login"), filters=[strip_filter], validators=[DataRequired(), Length(max=254)]
    )
    password = PasswordField(
        _l("Password"),
        validators=[Length(max=1024)],
        description=_l("Stored encrypted and never shown. Leave empty to keep the current one."),
    )
    status = SelectField(_l("Status"), default="Active")
    scan_mode = SelectField(
        _l("Scan mode"),
        choices=SCAN_MODE_LABELS,
        default="auto",
        description=_l(
            "Push keeps an IMAP IDLE connection on the Received folders, so new mail is "
            "stored within seconds; the periodic scan runs in every mode."
        ),
    )
    actions = OrderedActionsField(_l("Scanner actions"))
    search_fields = MultiCheckboxField(
        _l("Search fields"),
        choices=[(k, SEARCH_FIELD_LABELS[k]) for k in SEARCH_FIELDS],
        default=list(SEARCH_FIELDS),
    )
    email_exceptions = TextAreaField(
        _l("E-mail exceptions"),
        validators=[Length(max=100_000), _list_validator(validation.validate_email, "e-mail")],
        description=_l(
            "Mail from (or, for sent mail, to) these addresses is skipped. One per line."
        ),
        render_kw={"rows": 3},
    )
    domain_exceptions = TextAreaField(
        _l("Domain exceptions"),
        validators=[Length(max=100_000), _list_validator(validation.validate_domain, "domain")],
        description=_l("Mail from (or, for sent mail, to) these domains is skipped. One per line."),
        render_kw={"rows": 3},
    )
    owner_id = SelectField(
        _l("Owner"),
        coerce=int,
        validators=[DataRequired()],
        description=_l("Created e-mails and tickets are assigned to this user."),
    )
    submit = SubmitField(_l("Save"))


class PostForm(BaseForm):
    """A bare form for POST buttons (delete, stop, retry, run): the CSRF token only."""

    next = HiddenField()


# Values stored in English and shown through _() in the templates: listed here so that
# Babel's extraction finds them.
STORED_VALUE_LABELS = [
    _l("OK"),
    _l("In progress"),
    _l("Stopped"),
    _l("Error"),
    _l("Active"),
    _l("Inactive"),
    _l("Locked"),
    _l("skipped"),
    _l("failed"),
    _l("quarantined"),
    _l("Open"),
    _l("In progress"),
    _l("Wait for response"),
    _l("Answered"),
    _l("Closed"),
    _l("Rejected"),
    _l("reopen"),
    _l("new ticket"),
]
