"""The one exception a stopped job raises, wherever it was stopped (standard library only:
the model, the speech front-end's workers and the service all raise and catch it)."""


class Cancelled(Exception):
    """Work was stopped because its ``cancelled()`` callback returned True."""
