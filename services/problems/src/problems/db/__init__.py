"""The problems service's tables, repositories and read queries, all in schema ``problems``."""
