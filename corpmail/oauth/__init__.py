"""OAuth 2.0 mailboxes: providers (registry), the Authorize flow, access tokens for the wire."""
