"""What every request goes through: client address, limits and headers, idempotency,
language, errors, metrics and health."""
