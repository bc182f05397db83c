"""The gateway: a thin Flask app serving the portal, the REST API and the health endpoints."""
