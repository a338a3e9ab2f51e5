"""Gorod initiatives: civic initiatives («вМесте»): goals, tasks, participants and updates."""
