"""The backend service: ``Server`` speaks the protocol, ``Runner`` does the jobs.

Importing this package is light (no numpy or torch) so ``serve`` can say hello first.
"""
from .server import Server

__all__ = ["Server"]
