"""The few errors the wire raises; library and socket errors are mapped onto these."""


class MailError(Exception):
    """Base class; str(error) is a message a person can act on."""


class MailConnectionError(MailError):
    """The server could not be reached, or the connection broke or timed out."""


class MailAuthError(MailError):
    """The server refused the credentials; the message is the server's own."""


class MailProtocolError(MailError):
    """The server answered something we could not use (NO/BAD, malformed response)."""
