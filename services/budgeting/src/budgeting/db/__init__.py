"""The budgeting service's tables, repositories and read queries, all in schema ``budgeting``."""
