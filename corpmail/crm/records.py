"""Accounts, contacts and leads: list with search, detail with e-mails, create and edit."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from corpmail.crm import bp
from corpmail.crm.common import get_or_404, paginate, record_emails, record_search, search_text
from corpmail.crm.forms import AccountForm, ContactForm, LeadForm
from corpmail.extensions import db
from corpmail.models import Account, Contact, Lead, Ticket
from corpmail.models.crm import LEAD_STATUSES

# -- accounts ---------------------------------------------------------------

@bp.route("/accounts")
def accounts():
    q = search_text()
    return render_template("crm/accounts.html", q=q, pagination=paginate(record_search("account", q)))


@bp.route("/accounts/<int:record_id>")
def account_detail(record_id: int):
    account = get_or_404(Account, record_id)
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.account_id == account.id).order_by(Ticket.id.desc()).limit(20)
    ).all()
    return render_template("crm/account_detail.html", account=account, tickets=tickets,
                           emails=record_emails("account", account.id), record_type="account",
                           record=account)


@bp.route("/accounts/new", methods=["GET", "POST"])
def account_new():
    form = AccountForm()
    if form.validate_on_submit():
        account = Account(owner_id=current_user.id)
        _fill_account(account, form)
        db.session.add(account)
        db.session.flush()
        if not account.number:
            account.number = f"ACC{account.id}"
        db.session.commit()
        flash(_("Account %(name)s created.", name=account.name), "success")
        return redirect(url_for("crm.account_detail", record_id=account.id))
    return render_template("crm/form.html", form=form, title=_("New account"),
                           cancel=url_for("crm.accounts"))


@bp.route("/accounts/<int:record_id>/edit", methods=["GET", "POST"])
def account_edit(record_id: int):
    account = get_or_404(Account, record_id)
    form = AccountForm(obj=account, record=account)
    if not form.is_submitted():
        form.domains.data = " ".join(account.domains)
    if form.validate_on_submit():
        _fill_account(account, form)
        if not account.number:
            account.number = f"ACC{account.id}"
        db.session.commit()
        flash(_("Account %(name)s saved.", name=account.name), "success")
        return redirect(url_for("crm.account_detail", record_id=account.id))
    return render_template("crm/form.html", form=form, title=_("Edit account %(name)s", name=account.name),
                           cancel=url_for("crm.account_detail", record_id=account.id))


def _fill_account(account: Account, form: AccountForm) -> None:
    account.name = form.name.data
    account.number = form.number.data or None
    account.email = form.email.data
    account.website = form.website.data or None
    account.domains = form.domain_list


# -- contacts ---------------------------------------------------------------

@bp.route("/contacts")
def contacts():
    q = search_text()
    return render_template("crm/contacts.html", q=q, pagination=paginate(record_search("contact", q)))


@bp.route("/contacts/<int:record_id>")
def contact_detail(record_id: int):
    contact = get_or_404(Contact, record_id)
    tickets = db.session.scalars(
        select(Ticket).where(Ticket.contact_id == contact.id).order_by(Ticket.id.desc()).limit(20)
    ).all()
    return render_template("crm/contact_detail.html", contact=contact, tickets=tickets,
                           emails=record_emails("contact", contact.id), record_type="contact",
                           record=contact)


@bp.route("/contacts/new", methods=["GET", "POST"])
def contact_new():
    form = ContactForm()
    if form.validate_on_submit():
        contact = Contact(owner_id=current_user.id)
        _fill_contact(contact, form)
        db.session.add(contact)
        db.session.commit()
        flash(_("Contact %(name)s created.", name=contact.label), "success")
        return redirect(url_for("crm.contact_detail", record_id=contact.id))
    return render_template("crm/form.html", form=form, title=_("New contact"),
                           cancel=url_for("crm.contacts"))


@bp.route("/contacts/<int:record_id>/edit", methods=["GET", "POST"])
def contact_edit(record_id: int):
    contact = get_or_404(Contact, record_id)
    form = ContactForm(obj=contact)
    if not form.is_submitted():
        form.account_id.data = contact.account_id or 0
    if form.validate_on_submit():
        _fill_contact(contact, form)
        db.session.commit()
        flash(_("Contact %(name)s saved.", name=contact.label), "success")
        return redirect(url_for("crm.contact_detail", record_id=contact.id))
    return render_template("crm/form.html", form=form, title=_("Edit contact %(name)s", name=contact.label),
                           cancel=url_for("crm.contact_detail", record_id=contact.id))


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
    q = search_text()
    stmt = record_search("lead", q)
    status = request.args.get("status", "")
    if status in LEAD_STATUSES:
        stmt = stmt.where(Lead.status == status)
    return render_template("crm/leads.html", q=q, status=status, statuses=LEAD_STATUSES,
                           pagination=paginate(stmt))


@bp.route("/leads/<int:record_id>")
def lead_detail(record_id: int):
    lead = get_or_404(Lead, record_id)
    return render_template("crm/lead_detail.html", lead=lead, emails=record_emails("lead", lead.id),
                           record_type="lead", record=lead)


@bp.route("/leads/new", methods=["GET", "POST"])
def lead_new():
    form = LeadForm()
    if form.validate_on_submit():
        lead = Lead(owner_id=current_user.id)
        _fill_lead(lead, form)
        db.session.add(lead)
        db.session.commit()
        flash(_("Lead %(name)s created.", name=lead.label), "success")
        return redirect(url_for("crm.lead_detail", record_id=lead.id))
    return render_template("crm/form.html", form=form, title=_("New lead"), cancel=url_for("crm.leads"))


@bp.route("/leads/<int:record_id>/edit", methods=["GET", "POST"])
def lead_edit(record_id: int):
    lead = get_or_404(Lead, record_id)
    form = LeadForm(obj=lead)
    if form.validate_on_submit():
        _fill_lead(lead, form)
        db.session.commit()
        flash(_("Lead %(name)s saved.", name=lead.label), "success")
        return redirect(url_for("crm.lead_detail", record_id=lead.id))
    return render_template("crm/form.html", form=form, title=_("Edit lead %(name)s", name=lead.label),
                           cancel=url_for("crm.lead_detail", record_id=lead.id))


def _fill_lead(lead: Lead, form: LeadForm) -> None:
    lead.company = form.company.data or ""
    lead.name = form.name.data or ""
    lead.email = form.email.data
    lead.status = form.status.data
