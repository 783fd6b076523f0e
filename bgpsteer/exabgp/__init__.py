"""Adapters that talk to ExaBGP: its JSON and command text (codec), its configuration (render)."""
