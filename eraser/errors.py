"""The one exception type that reaches a user as a message rather than a traceback."""


class EraserError(Exception):
    """A user-facing error.

    Its message is a single line saying what was wrong and what to do about it; the CLI prints it
    to stderr and exits with code 2.
    """


class GuardFailure(EraserError):
    """Guards failed: the command wrote a report but kept nothing; the CLI exits with code 3.

    Only the CLI raises it: the library returns a failed verdict as a value (``EraseResult.verdict``).
    """

    exit_code = 3
