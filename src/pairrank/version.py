"""The package version, stamped into every model folder."""

__version__ = "0.2.0"
