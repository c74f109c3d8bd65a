"""Candidates sitting an exam: answers and their store, attempts and their steps, scoring, answer packs and their keys, a candidate's standing."""
