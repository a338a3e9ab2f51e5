"""Sign-in through external identity providers (DOBRO.RU first; the same code serves any OpenID Connect or
plain OAuth 2 provider): their configuration, the protocol client, the claims mapping, and the flow state.

Every provider is data (``auth.identity_providers``): endpoints, client id, scopes and claim names are
settings, because DOBRO.RU's partner documentation is not public; the client secret is in the environment
(``AUTH_IDP_<SLUG>_CLIENT_SECRET``), never in the database.
"""
