"""Runs: train a model on a split, recommend for its test users, benchmark several."""
