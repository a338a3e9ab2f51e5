"""Gorod servicekit: infrastructure shared by every service. Holds no domain types."""
