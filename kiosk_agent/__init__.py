"""The exam-PC agent. Standard library, websocket-client and cryptography only: it never
imports the bridge, Flask or SQLAlchemy, so an exam PC installs nothing of the server."""

__version__ = "0.1.0"
