"""Framework-free LTI 1.3: nothing here imports Flask or the database."""
