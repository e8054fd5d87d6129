"""Recommenders with one face: fit, score, recommend, save, load."""
