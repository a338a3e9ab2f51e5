"""Gorod inspectors: the registry of public inspectors, public chambers, oversight events and invitations."""
