"""The auth service's tables, repositories and read queries, all in schema ``auth``."""
