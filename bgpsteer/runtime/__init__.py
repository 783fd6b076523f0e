"""The running helper: the agent around the pure core, its event loop, and what it keeps on disk."""
