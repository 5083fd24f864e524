"""Ingest from the web: RSS/Atom feeds and article URLs, fetched politely and safely, kept fresh."""
