"""Test support: a pytest plugin that provisions an isolated test stack (database, roles, vhost)."""
