"""Forms that turn profiles and page input into contract data and back."""
