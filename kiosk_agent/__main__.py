"""``python -m kiosk_agent``: the same as ``exambridge-kiosk``."""
import sys

from kiosk_agent.cli import main

sys.exit(main())
