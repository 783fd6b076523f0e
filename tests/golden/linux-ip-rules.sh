#!/bin/sh
# bgpsteer application classes: each class's mark looks up the class's table (filled by BIRD, bird.conf);
# a packet the class table has no route for falls through to the main table
set -e
ip -4 rule del priority 1001 2>/dev/null || true
ip -4 rule add priority 1001 fwmark 101 table 101  # class realtime
ip -6 rule del priority 1001 2>/dev/null || true
ip -6 rule add priority 1001 fwmark 101 table 101  # class realtime
ip -4 rule del priority 1002 2>/dev/null || true
ip -4 rule add priority 1002 fwmark 102 table 102  # class eu-video
ip -4 rule del priority 1003 2>/dev/null || true
ip -4 rule add priority 1003 fwmark 103 table 103  # class mgmt
