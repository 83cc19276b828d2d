"""Errors of the local stack."""


class StackError(RuntimeError):
    """The local stack cannot be provisioned, started or stopped.

    The message says what failed and what to do about it (it often carries a log tail);
    the CLI prints it without a traceback.
    """
