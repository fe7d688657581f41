"""gridstream: what every part shares (records, topics, settings, units, periods, broker)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
