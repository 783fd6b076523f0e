"""Adapters that read each egress's encrypted tunnel (netlink link events, WireGuard handshakes) and hand the core
what they read as ``TunnelFacts`` (core/tunnel.py decides what it means)."""
