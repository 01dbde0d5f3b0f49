"""CRM pages; each area lives in its own module, imported here to register its routes."""

from corpmail.crm import emails, labels, links, records, tickets  # noqa: F401
