"""The WSGI entry point for production app servers: `gunicorn --workers 4 'web.wsgi:app'` (docs/operations.md).

Each gunicorn worker process builds its own app, database pool and case service (do not use --preload: a pool
must not be shared across fork). Configuration comes from the environment (JICHI_DATABASE_URL, …).

The procedures and rules are loaded and validated when the worker starts, not on its first request (a broken
pack stops the worker at once, with its diagnostics in the log). What was loaded then lives as long as the
process: it is moved out of the garbage collector's sight (gc.freeze), which otherwise scans those hundreds of
thousands of objects again and again — about a tenth of an API completion's time.
"""

from __future__ import annotations

import gc

from web import create_app
from web.api import cases

app = create_app()
with app.app_context():
    cases()
gc.freeze()
