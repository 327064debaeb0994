"""tipbot: answers questions about a blog archive with verbatim, linked quotes."""

__version__ = "0.1.0"
