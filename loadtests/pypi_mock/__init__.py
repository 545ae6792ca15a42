"""A local stand-in for the PyPI JSON API, with fault injection, for tests, load and soak runs."""
