"""A tiny shop used as Bosun's Python sample repository."""
