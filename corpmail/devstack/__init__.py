"""Local mail stack for tests and the run command: a private Dovecot and an SMTP relay."""
