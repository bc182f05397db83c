"""Code every Lodge service shares: configuration, contracts, storage and messaging."""
