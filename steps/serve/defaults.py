"""The server's tunable defaults, apart from the server (which loads numpy and pandas with the payload
parser): `python -m steps.serve --help` shows them without loading either. server.py reads them from here."""

from __future__ import annotations

# Scoring is serialised on the model thread, so more workers only overlap reading and parsing with scoring.
DEFAULT_WORKERS = 16
# Longer than the 60 s idle timeout of the usual HTTP front ends: the server must not close a keep-alive
# connection the front end is about to reuse.
DEFAULT_IDLE_TIMEOUT_S = 65.0
DEFAULT_REQUEST_TIMEOUT_S = 30.0
