"""Configure external identity providers from the command line (the database of ``AUTH_DATABASE_URL``).

    python -m auth.federation configure dobro --name "DOBRO.RU" --settings dobro.json
    python -m auth.federation check dobro      # fetches the endpoints, prints the redirect URI to register
    python -m auth.federation list
    python -m auth.federation disable dobro     # and ``enable``

The settings file is the JSON object described in ``docs/dobro-ru.md`` (validated before it is stored).
The client secret is never part of it: set ``AUTH_IDP_<SLUG>_CLIENT_SECRET`` in the service's environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db import federation as federation_db
from auth.federation.client import ProviderClient
from auth.federation.config import redirect_uri, secret_variable
from auth.federation.errors import FederationError
from auth.settings import AuthSettings
from auth.usecases.federation import configure_provider, provider_from_row, set_provider_enabled
from servicekit.db import create_engine, create_session_factory


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m auth.federation", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    configure = commands.add_parser("configure", help="create or replace a provider")
    configure.add_argument("slug")
    configure.add_argument("--name", required=True, help='shown on the button: "Войти через <name>"')
    configure.add_argument("--settings", required=True, type=Path, help="a JSON file with the provider's settings")
    configure.add_argument("--disabled", action="store_true", help="store it, but do not offer it yet")
    for name, text in (("enable", "offer the provider"), ("disable", "stop offering it"), ("check", "try it")):
        commands.add_parser(name, help=text).add_argument("slug")
    commands.add_parser("list", help="the configured providers")
    return parser


async def run(argv: list[str], settings: AuthSettings | None = None, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    settings = settings or AuthSettings()
    engine = create_engine(settings, pool_size=1)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            if args.command == "configure":
                try:
                    document = json.loads(args.settings.read_text(encoding="utf-8"))
                    await configure_provider(session, args.slug, args.name, document, enabled=not args.disabled)
                except (OSError, ValueError, ValidationError) as error:  # ValidationError is a ValueError
                    print(f"not configured: {error}", file=out)
                    return 2
                print(f"configured {args.slug}; register {redirect_uri(settings.jwt_issuer, args.slug)}", file=out)
                print(f"the client secret goes in {secret_variable(args.slug)}", file=out)
            elif args.command in {"enable", "disable"}:
                if not await set_provider_enabled(session, args.slug, args.command == "enable"):
                    print(f"no provider {args.slug}", file=out)
                    return 1
                print(f"{args.command}d {args.slug}", file=out)
            elif args.command == "list":
                for row in await federation_db.all_provider_rows(session):
                    state = "enabled" if row.enabled else "disabled"
                    print(f"{row.slug}\t{state}\t{row.display_name}", file=out)
            else:
                return await _check(session, settings, args.slug, out)
    finally:
        await engine.dispose()
    return 0


async def _check(session: AsyncSession, settings: AuthSettings, slug: str, out: TextIO) -> int:
    row = await federation_db.provider_row(session, slug)
    if row is None:
        print(f"no provider {slug}", file=out)
        return 1
    try:
        provider = provider_from_row(row)
    except ValidationError as error:
        print(f"invalid settings: {error}", file=out)
        return 2
    print(f"redirect URI to register: {redirect_uri(settings.jwt_issuer, slug)}", file=out)
    if provider.settings.is_public_client:
        print(f"{provider.secret_variable}: not needed (public client)", file=out)
    else:
        print(f"{provider.secret_variable}: {'set' if provider.client_secret() else 'NOT SET'}", file=out)
    try:
        async with ProviderClient(provider) as client:
            endpoints = await client.endpoints()
    except FederationError as error:
        print(f"cannot reach the provider: {error.reason}", file=out)
        return 1
    for name, value in vars(endpoints).items():
        print(f"{name}: {value}", file=out)
    return 0 if provider.client_secret() or provider.settings.is_public_client else 1


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
