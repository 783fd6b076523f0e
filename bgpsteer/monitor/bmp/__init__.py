"""bgpsteer's BMP station (RFC 7854): what a core router tells about the UPDATEs it receives from bgpsteer."""
