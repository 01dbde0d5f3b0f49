"""WTForms for CRM records: validation and normalisation (lower-cased e-mails, domain lists)."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from wtforms import HiddenField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from corpmail import validation
from corpmail.crm.labels import label
from corpmail.extensions import db
from corpmail.forms import BaseForm
from corpmail.models import Account, Contact, User
from corpmail.models.crm import LEAD_STATUSES, TICKET_PRIORITIES, TICKET_STATUSES
from corpmail.models.emails import LINK_TYPES
from corpmail.validation import split_list, validate_domain, validate_email

try:  # WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # older WTForms: tuples
    SelectChoice = None

_PHONE = re.compile(r"^[0-9+()./ -]{3,50}$")


def choice(value, label):
    return SelectChoice(value=value, label=label) if SelectChoice else (value, label)


NONE_CHOICE = choice(0, "—")


class EmailAddress:
    """Validate an optional e-mail address and store it lower-cased (None when blank)."""

    def __call__(self, form, field) -> None:
        text = (field.data or "").strip()
        if not text:
            field.data = None
            return
        try:
            field.data = validate_email(text)
        except ValueError:
            raise ValidationError(_("Enter a valid e-mail address, such as name@example.com."))


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class AccountForm(BaseForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)], filters=[_strip])
    number = StringField(_l("Number"), validators=[Optional(), Length(max=32)], filters=[_strip],
                         description=_l("Left empty, a number is assigned."))
    email = StringField(_l("E-mail"), validators=[Length(max=254), EmailAddress()])
    website = StringField(_l("Website"), validators=[Optional(), Length(max=255)], filters=[_strip])
    domains = TextAreaField(
        _l("Domains"),
        validators=[Length(max=4000)],
        render_kw={"rows": 2, "placeholder": "example.com example.org"},
        description=_l("Mail from any address in these domains binds to the account. "
                       "Separate with spaces or commas."),
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, record: Account | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._record = record
        self.domain_list: list[str] = []

    def validate_domains(self, field) -> None:
        out = []
        for item in split_list(field.data):
            try:
                out.append(validate_domain(item))
            except ValueError:
                raise ValidationError(_("%(domain)s is not a valid domain.", domain=item))
        self.domain_list = out

    def validate_website(self, field) -> None:
        if not field.data:
            return
        try:
            validation.validate_website(field.data)
        except ValueError:
            raise ValidationError(_("Enter a web address such as https://example.com."))

    def validate_number(self, field) -> None:
        if not field.data:
            return
        clash = db.session.scalar(select(Account.id).where(Account.number == field.data))
        if clash is not None and (self._record is None or clash != self._record.id):
            raise ValidationError(_("Another account already has this number."))


class ContactForm(BaseForm):
    first_name = StringField(_l("First name"), validators=[Length(max=100)], filters=[_strip])
    last_name = StringField(_l("Last name"), validators=[Length(max=100)], filters=[_strip])
    email = StringField(_l("E-mail"), validators=[Length(max=254), EmailAddress()])
    secondary_email = StringField(_l("Secondary e-mail"), validators=[Length(max=254), EmailAddress()])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)], filters=[_strip])
    account_id = SelectField(_l("Account"), coerce=int, validate_choice=True)
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.account_id.choices = [NONE_CHOICE] + account_choices()

    def validate_phone(self, field) -> None:
        if field.data and not _PHONE.match(field.data):
            raise ValidationError(_("Use digits, spaces and + ( ) - . / only."))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and not (self.first_name.data or self.last_name.data or self.email.data):
            self.last_name.errors.append(_("Give a name or an e-mail address."))
            return False
        return ok


class LeadForm(BaseForm):
    company = StringField(_l("Company"), validators=[Length(max=200)], filters=[_strip])
    name = StringField(_l("Name"), validators=[Length(max=200)], filters=[_strip])
    email = StringField(_l("E-mail"), validators=[Length(max=254), EmailAddress()])
    status = SelectField(_l("Status"), choices=[choice(s, label(s)) for s in LEAD_STATUSES])
    submit = SubmitField(_l("Save"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and not (self.company.data or self.name.data):
            self.name.errors.append(_("Give a company or a name."))
            return False
        return ok


class TicketForm(BaseForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=500)], filters=[_strip])
    description = TextAreaField(_l("Description"), validators=[Length(max=100_000)],
                                render_kw={"rows": 6})
    status = SelectField(_l("Status"), choices=[choice(s, label(s)) for s in TICKET_STATUSES])
    priority = SelectField(_l("Priority"), choices=[choice(p, label(p)) for p in TICKET_PRIORITIES],
                           default="Normal")
    contact_id = SelectField(_l("Contact"), coerce=int)
    account_id = SelectField(_l("Account"), coerce=int)
    owner_id = SelectField(_l("Owner"), coerce=int)
    note = StringField(_l("Note on the status change"), validators=[Optional(), Length(max=1000)],
                       filters=[_strip], description=_l("Recorded in the ticket's history."))
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.contact_id.choices = [NONE_CHOICE] + contact_choices()
        self.account_id.choices = [NONE_CHOICE] + account_choices()
        self.owner_id.choices = [NONE_CHOICE] + user_choices()


class LinkForm(BaseForm):
    """Bind or unbind an e-mail and a record by hand (both POST, both idempotent)."""

    record_type = SelectField(_l("Record type"), choices=[choice(t, label(t)) for t in LINK_TYPES],
                              validators=[InputRequired()])
    record_id = IntegerField(validators=[InputRequired()])
    next = HiddenField()


def account_choices() -> list:
    rows = db.session.execute(select(Account.id, Account.name).order_by(func.lower(Account.name)))
    return [choice(row.id, row.name) for row in rows]


def contact_choices() -> list:
    rows = db.session.scalars(
        select(Contact).order_by(func.lower(Contact.last_name), func.lower(Contact.first_name))
    )
    return [choice(c.id, f"{c.label} <{c.email}>" if c.email else c.label) for c in rows]


def user_choices() -> list:
    rows = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.email))
    return [choice(u.id, u.label) for u in rows]
