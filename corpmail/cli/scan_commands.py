"""Scanning commands: scan (one pass now) and scanner (the scheduler process)."""

COMMANDS: list = []
