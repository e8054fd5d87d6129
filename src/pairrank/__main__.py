"""`python -m pairrank` (and `torchrun -m pairrank train ...`) runs the command line."""

from pairrank.cli import app

app()
