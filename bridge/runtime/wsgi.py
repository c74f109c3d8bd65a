"""WSGI entry for production under gunicorn's gevent worker (PostgreSQL deployments):

    gunicorn -k gevent -w 4 -b 127.0.0.1:8090 bridge.runtime.wsgi:app

Each worker imports this module after fork (do not use ``--preload``: the score sender
would start in the master). Like ``exambridge serve`` in production, a worker refuses to
boot on a schema that is behind (run ``exambridge db upgrade`` before starting the new
version); unlike ``serve`` it refuses SQLite, which one process serves (DESIGN).
"""
from gevent import monkey

monkey.patch_all()  # first: before Flask, SQLAlchemy, psycopg or redis touch a socket

from bridge import create_app  # noqa: E402
from bridge.errors import ConfigError  # noqa: E402
from bridge.runtime.runner import prepare_database, sqlite_path, start_background  # noqa: E402

app = create_app()

if sqlite_path(app.config["SQLALCHEMY_DATABASE_URI"]):
    raise ConfigError(
        "bridge.runtime.wsgi runs several gunicorn workers and needs PostgreSQL "
        "(EXAMBRIDGE_DATABASE_URL=postgresql://...). On SQLite run `exambridge serve`: "
        "one process per SQLite file.")
prepare_database(app, upgrade=False)
background = start_background(app)
