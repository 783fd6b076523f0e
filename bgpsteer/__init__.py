"""bgpsteer: a BGP route-server agent on ExaBGP that steers multi-cloud VPN egress."""

__version__ = "0.1.0"
