"""HTTP conventions shared by every service (ARCHITECTURE §6)."""
