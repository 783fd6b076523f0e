"""`bgpsteer test`: policy tests as data, run against the pure core without any daemon."""
