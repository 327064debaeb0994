"""A local stand-in blog (Blogger feeds, WordPress REST, RSS, post pages) on 127.0.0.1."""

from .blog import Blog, StubPost, make_posts
from .server import BlogStub

__all__ = ["Blog", "BlogStub", "StubPost", "make_posts"]
