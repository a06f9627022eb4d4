"""PolyFact: a pipeline for studying cross-lingual factual consistency in language models."""

__version__ = "0.1.0"
