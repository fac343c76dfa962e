"""The Codeward language server: completion engine, context, post-processing, events."""

__version__ = "0.1.0"
