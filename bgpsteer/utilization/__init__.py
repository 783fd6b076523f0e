"""Egress utilization read from the network: interface octet counters by netlink (a device on the route server's
host or in a namespace) or SNMP (IF-MIB on a remote egress router), turned into rates by core/counters.py."""
