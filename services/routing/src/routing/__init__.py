"""Gorod routing: territories, authorities and jurisdictions; official appeals and their 59-FZ
deadlines; the officials' cabinet.
"""
