"""The initiatives service's tables, repositories and read queries, all in schema ``initiatives``."""
