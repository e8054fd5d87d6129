"""Text encoders: item text templates and sentence-transformers models."""
