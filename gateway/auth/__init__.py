"""Who is asking: accounts, API tokens, sessions, institutional sign-in."""
