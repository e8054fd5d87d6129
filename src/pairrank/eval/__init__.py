"""Offline evaluation: ranking metrics, the evaluator, and significance tests."""
