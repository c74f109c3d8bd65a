"""``exambridge bench …``: load tests against a real bridge process (issue 3, Performance)."""
