"""File formats people open: CSV (formula-safe), XLSX and PDF (rendered by Chromium)."""
