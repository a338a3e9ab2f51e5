"""One function per operation a user or an event triggers, each inside a unit of work."""
