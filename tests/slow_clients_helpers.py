"""Shared by tests/test_slow_clients.py (the crowd's kiosk sockets trickle it) and
tests/test_connection_limits.py (trickled into ``WebSocket.receive``)."""
from __future__ import annotations

import os

# a masked text frame announcing 1,000 bytes: trickled, it never completes within a deadline
TRICKLED_FRAME = bytes((0x81, 0x80 | 126)) + (1000).to_bytes(2, "big") + os.urandom(4) + b"x" * 1000
