"""The contract layer: the only code that crosses between processes."""
