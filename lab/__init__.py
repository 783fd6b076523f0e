"""The lab: network namespaces with real BGP daemons, bgpsteer steering them."""
