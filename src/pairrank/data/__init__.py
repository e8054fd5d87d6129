"""Interaction data: importers, validation, id maps, split protocols."""
