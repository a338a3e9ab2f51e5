"""The OAuth 2.0 / OpenID Connect provider, built on Authlib's framework-free core (``AuthorizationServer``
and its grants), with our own adapter for Starlette requests. :mod:`auth.oauth.server` explains how the
synchronous Authlib is kept off the database I/O of the event loop."""
