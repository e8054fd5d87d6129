"""The HTTP ranking service (FastAPI): recommend, rank, events and items over a trained run."""
