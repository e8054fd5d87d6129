"""PairRank: pair-wise recommendation ranking with pretrained language models."""

__version__ = "0.1.0"
