"""alignlab: an LLM alignment laboratory."""

__version__ = "0.1.0"
