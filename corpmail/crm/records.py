"""Accounts, contacts and leads: list with search, detail with e-mails, create and edit."""

from __future__ import annotations

from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from corpmail.crm import bp
from corpmail.crm.common import (
    commit_and_show,
    recent_tickets,
    render_detail,
    render_list,
    render_record_form,
)
from corpmail.crm.forms import AccountForm, ContactForm, LeadForm
from corpmail.extensions import db
from corpmail.models import Account, Contact, Lead, Ticket
from corpmail.models.crm import LEAD_STATUSES

# -- accounts ---------------------------------------------------------------

@bp.route("/accounts")
def accounts():
    return render_list("account")


@bp.route("/accounts/<int:record_id>")
def account_detail(record_id: int):
    account = db.get_or_404(Account, record_id)
    return render_detail("account", account, tickets=recent_tickets(Ticket.account_id, account.id))


@bp.route("/accounts/new", methods=["GET", "POST"])
def account_new():
    form = AccountForm()
    if form.validate_on_submit():
        account = Account(owner_id=current_user.id)
        _fill_account(account, form)
        db.session.add(account)
        _default_number(account)
        return commit_and_show("account", account, _("Account %(name)s created.", name=account.name))
    return render_record_form(form, _("New account"), url_for("crm.accounts"))


@bp.route("/accounts/<int:record_id>/edit", methods=["GET", "POST"])
def account_edit(record_id: int):
    account = db.get_or_404(Account, record_id)
    form = AccountForm(obj=account, record=account)
    if not form.is_submitted():
        form.domains.data = " ".join(account.domains)
    if form.validate_on_submit():
        _fill_account(account, form)
        _default_number(account)
        return commit_and_show("account", account, _("Account %(name)s saved.", name=account.name))
    return render_record_form(form, _("Edit account %(name)s", name=account.name),
                              url_for("crm.account_detail", record_id=account.id))


def _fill_account(account: Account, form: AccountForm) -> None:
    account.name = form.name.data
    account.number = form.number.data or None
    account.email = form.email.data
    account.website = form.website.data or None
    account.domains = form.domain_list


def _default_number(account: Account) -> None:
    if not account.number:
        db.session.flush()  # a new account gets its id here
        account.number = f"ACC{account.id}"


# -- contacts ---------------------------------------------------------------

@bp.route("/contacts")
def contacts():
    return render_list("contact")


@bp.route("/contacts/<int:record_id>")
def contact_detail(record_id: int):
    contact = db.get_or_404(Contact, record_id)
    return render_detail("contact", contact, tickets=recent_tickets(Ticket.contact_id, contact.id))


@bp.route("/contacts/new", methods=["GET", "POST"])
def contact_new():
    form = ContactForm()
    if form.validate_on_submit():
        contact = Contact(owner_id=current_user.id)
        _fill_contact(contact, form)
        db.session.add(contact)
        return commit_and_show("contact", contact, _("Contact %(name)s created.", name=contact.label))
    return render_record_form(form, _("New contact"), url_for("crm.contacts"))


@bp.route("/contacts/<int:record_id>/edit", methods=["GET", "POST"])
def contact_edit(record_id: int):
    contact = db.get_or_404(Contact, record_id)
    form = ContactForm(obj=contact)
    if not form.is_submitted():
        form.account_id.data = contact.account_id or 0
    if form.validate_on_submit():
        _fill_contact(contact, form)
        return commit_and_show("contact", contact, _("Contact %(name)s saved.", name=contact.label))
    return render_record_form(form, _("Edit contact %(name)s", name=contact.label),
                              url_for("crm.contact_detail", record_id=contact.id))


def _fill_contact(contact: Contact, form: ContactForm) -> None:
    contact.first_name = form.first_name.data or ""
    contact.last_name = form.last_name.data or ""
    contact.email = form.email.data
    contact.secondary_email = form.secondary_email.data
    contact.phone = form.phone.data or None
    contact.account_id = form.account_id.data or None


# -- leads ------------------------------------------------------------------

@bp.route("/leads")
def leads():
    status = request.args.get("status", "")
    where = Lead.status == status if status in LEAD_STATUSES else None
    return render_list("lead", where, status=status, statuses=LEAD_STATUSES)


@bp.route("/leads/<int:record_id>")
def lead_detail(record_id: int):
    return render_detail("lead", db.get_or_404(Lead, record_id))


@bp.route("/leads/new", methods=["GET", "POST"])
def lead_new():
    form = LeadForm()
    if form.validate_on_submit():
        lead = Lead(owner_id=current_user.id)
        _fill_lead(lead, form)
        db.session.add(lead)
        return commit_and_show("lead", lead, _("Lead %(name)s created.", name=lead.label))
    return render_record_form(form, _("New lead"), url_for("crm.leads"))


@bp.route("/leads/<int:record_id>/edit", methods=["GET", "POST"])
def lead_edit(record_id: int):
    lead = db.get_or_404(Lead, record_id)
    form = LeadForm(obj=lead)
    if form.validate_on_submit():
        _fill_lead(lead, form)
        return commit_and_show("lead", lead, _("Lead %(name)s saved.", name=lead.label))
    return render_record_form(form, _("Edit lead %(name)s", name=lead.label),
                              url_for("crm.lead_detail", record_id=lead.id))


def _fill_lead(lead: Lead, form: LeadForm) -> None:
    lead.company = form.company.data or ""
    lead.name = form.name.data or ""
    lead.email = form.email.data
    lead.status = form.status.data
