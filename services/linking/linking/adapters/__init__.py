"""I/O of the linking service: MongoDB repositories and JWT verification."""
