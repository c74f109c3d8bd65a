"""Local accounts, staff roles and their scope, sign-in throttles."""
