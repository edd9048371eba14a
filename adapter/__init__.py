"""seatsync core: the domain, with no HTTP in it (see ARCHITECTURE.md)."""
