"""What a core router needs to carry out bgpsteer's application classes: render its configuration from the YAML."""
