"""The problems service's rules in plain Python: no I/O here (import-linter checks it)."""
