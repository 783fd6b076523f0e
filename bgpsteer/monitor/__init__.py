"""Adapters that read what the core routers hold (their BGP table), for core/drift.py to compare with intent."""
