"""Gorod budgeting: initiative (participatory) budgeting: campaigns, projects, signatures, voting and
results.
"""
