"""The wire: IMAP and SMTP sessions, message parsing, HTML sanitising, secrets at rest."""
