"""Judges: language models that re-score a user's candidates (mono) or compare two of them (duo)."""
