"""The WSGI entry point for production app servers: `gunicorn --workers 4 'web.wsgi:app'` (docs/operations.md).

Each gunicorn worker process builds its own app, database pool and case service (do not use --preload: a pool
must not be shared across fork). Configuration comes from the environment (JICHI_DATABASE_URL, …).

The procedures are loaded and validated when the worker starts, not on its first request (a broken pack stops
the worker at once, with its diagnostics in the log), and so are the rules of every registered municipality
(Cases.warm; when the database cannot be reached yet, they load on first use). What was loaded then lives as
long as the process: it is moved out of the garbage collector's sight (gc.freeze), which otherwise scans those
hundreds of thousands of objects again and again — about a tenth of an API completion's time.
"""

from __future__ import annotations

import gc
import logging

from sqlalchemy.exc import SQLAlchemyError

from web import create_app
from web.api import cases
from web.db import get_session

app = create_app()
with app.app_context():
    service = cases()
    try:
        service.warm(get_session())
    except SQLAlchemyError as e:
        logging.getLogger("jichi").warning("規則の事前読み込みを省きました（データベースに接続できません）: %s",
                                           type(e).__name__)
gc.freeze()
