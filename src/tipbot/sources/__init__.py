"""Bringing a blog's posts into the archive from its public feed (`tipbot corpus pull`).

- ``http``: a polite HTTP client (one request at a time, delay, timeouts, retries, caps)
- ``detect``: ``--format auto``, from the URL or one page
- ``blogger``, ``wordpress``, ``feed``: one module per kind of source (``feed``: any RSS/Atom)
- ``entry``: what each of them hands back (``Entry``, a post; ``Listing``, what the blog lists)
- ``store``: the posts file and its state on disk, replaced atomically
- ``pull``: one pull (read, compare, write, report); ``cli``: the ``tipbot corpus`` commands
"""

from tipbot.config import SourceFormat

# What --format accepts; here, so that the CLI can offer them without importing the readers.
FORMATS = tuple(f.value for f in SourceFormat)
