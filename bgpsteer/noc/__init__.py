"""The NOC's view: the control socket (server, client), the CLI's commands, the answers, Prometheus metrics."""
