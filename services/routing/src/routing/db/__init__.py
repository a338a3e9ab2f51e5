"""The routing service's tables, repositories and read queries, all in schema ``routing``."""
