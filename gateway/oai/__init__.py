"""OAI-PMH 2.0 for harvesters."""
