"""Measuring egresses: probes sent through each egress's path."""
