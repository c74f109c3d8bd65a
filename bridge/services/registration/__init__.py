"""Candidate registration for exam sittings: periods, registrations, photos, review, payment, documents."""
