"""The shared kernel: what the services and the gateway share."""
