"""The inspectors service's tables, repositories and read queries, all in schema ``inspectors``."""
