"""Extension objects, created here and ``init_app``'d by the factory, and ``transaction()``,
the unit of work of a view, a CLI command or a hub handler (services only flush)."""
from __future__ import annotations

import contextlib
from typing import Iterator

from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy

from bridge.db import Base

db = SQLAlchemy(model_class=Base)
babel = Babel()


@contextlib.contextmanager
def transaction() -> Iterator:
    """One unit of work: commit on success, roll back on any error. Services only flush."""
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
