"""A project's own test suite run inside subinterpreters, against the same suite in main."""
