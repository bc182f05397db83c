"""Policy: the rules Lodge applies, free of I/O."""
