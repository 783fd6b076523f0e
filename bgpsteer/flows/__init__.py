"""Flow export (NetFlow v9, IPFIX) received from the core: per-prefix volumes for relief."""
