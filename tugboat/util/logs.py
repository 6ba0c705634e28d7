"""One place that configures logging for the `tug` processes (plain, line-oriented, stderr)."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str = "info") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
    )
    # aiohttp's access log is one line per request: far too chatty for a busy server.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
