"""ExamBridge: the bridge application.

Importing this package does no I/O and imports neither Flask nor gevent, so the
``exambridge`` entry point can monkey-patch with gevent before anything else loads.
"""


def create_app(config=None):
    """Build the Flask application; ``config`` overrides the environment (tests)."""
    from bridge.app import build_app

    return build_app(config)
