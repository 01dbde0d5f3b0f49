"""Helpers shared by the test fixtures: databases, web login/CSRF, the mail stack."""
