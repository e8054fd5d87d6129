"""PairRank: pair-wise recommendation ranking with pretrained language models."""

__version__ = "0.2.0"
