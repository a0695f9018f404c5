"""The stream's default origin, apart from the client (tweepy and aiohttp): `python -m steps.ingest --help`
shows it without loading them."""

from __future__ import annotations

DEFAULT_API_BASE = "https://api.twitter.com"
