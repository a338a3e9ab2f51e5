"""Gorod auth: accounts, roles, consents (152-FZ), and the OAuth 2.0 / OpenID Connect provider
federated with DOBRO.RU.
"""
