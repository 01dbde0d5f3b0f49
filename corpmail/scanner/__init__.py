"""The mail scanner: actions over a shared context, the per-account engine, its scheduler."""
