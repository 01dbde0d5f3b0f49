"""Provisioning commands: init, user, server, account, grant, config, import, export."""

COMMANDS: list = []
