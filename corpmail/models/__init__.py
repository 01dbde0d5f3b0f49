"""Typed SQLAlchemy 2.0 models, one module per aggregate."""

from corpmail.models.autologin import AutologinSession, AutologinToken, MailboxUnread
from corpmail.models.crm import Account, AccountDomain, Contact, Lead, Ticket, TicketHistory
from corpmail.models.emails import Email, EmailAttachment, EmailLink, EmailSeen
from corpmail.models.mailboxes import AutologinGrant, MailServer, ScannerAccount, ScannerFolder
from corpmail.models.scans import MessageFailure, ScanEvent, ScanRun
from corpmail.models.settings import MailConfiguration
from corpmail.models.users import User

__all__ = [
    "User", "Account", "AccountDomain", "Contact", "Lead", "Ticket", "TicketHistory",
    "MailServer", "ScannerAccount", "ScannerFolder", "AutologinGrant",
    "Email", "EmailAttachment", "EmailLink", "EmailSeen",
    "ScanRun", "ScanEvent", "MessageFailure", "MailConfiguration",
    "AutologinToken", "AutologinSession", "MailboxUnread",
]
