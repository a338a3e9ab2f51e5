"""The analytics service's tables, repositories and read queries, all in schema ``analytics``."""
