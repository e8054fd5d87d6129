"""The multi-stage ranker: retrieval from several models, then a LambdaRank fusion of their signals.

Layer: above `models` (its stages are models), below `experiments`.
"""
