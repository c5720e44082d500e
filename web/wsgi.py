"""The WSGI entry point for production app servers: `gunicorn --workers 4 'web.wsgi:app'` (docs/operations.md).

Each gunicorn worker process builds its own app, database pool and case service (do not use --preload: a pool
must not be shared across fork). Configuration comes from the environment (JICHI_DATABASE_URL, …).
"""

from __future__ import annotations

from web import create_app

app = create_app()
