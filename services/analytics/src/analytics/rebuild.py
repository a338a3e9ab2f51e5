"""Rebuild read models from the event archive: ``python -m analytics.rebuild [model ...]``.

With no names every model is rebuilt (directory, problems, appeals, ratings): the directory first, then the
others side by side. Progress goes to stderr, counted in archived events passed by each model.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from analytics.db.projections import MODELS
from analytics.settings import AnalyticsSettings
from analytics.usecases.projector import models_named, rebuild
from servicekit.db import create_engine


def _progress(done: int, total: int, seconds: float) -> None:
    rate = done / seconds if seconds > 0 else 0.0
    share = 100.0 * done / total if total else 100.0
    print(
        f"  {done:>10,} / {total:,} events × models ({share:5.1f}%), {rate:,.0f} a second", file=sys.stderr, flush=True
    )


async def _run(names: list[str], batch: int) -> int:
    settings = AnalyticsSettings()
    engine = create_engine(settings, pool_size=len(MODELS))  # the models are rebuilt side by side
    try:
        return await rebuild(engine, names, batch=batch, progress=_progress)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.rebuild", description=__doc__)
    parser.add_argument("models", nargs="*", help=f"read models to rebuild (default: all of {', '.join(MODELS)})")
    parser.add_argument("--batch", type=int, default=5000, help="archived events per transaction of each model")
    args = parser.parse_args(argv)
    try:
        chosen = [m.name for m in models_named(args.models)]
    except ValueError as error:
        parser.error(str(error))
    print(f"rebuilding {', '.join(chosen)} from the archive", file=sys.stderr)
    done = asyncio.run(_run(chosen, args.batch))
    print(f"done: {done:,} events applied to {', '.join(chosen)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
