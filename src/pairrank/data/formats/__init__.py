"""Importers for named public data sets (MovieLens, Amazon, Goodbooks, Last.fm, MIND) and SQL."""
