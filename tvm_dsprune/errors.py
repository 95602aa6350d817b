"""The one error type for bad user input.

Anything a user can get wrong (a file, a ratio, a method name, a mask shape, a target) raises
InputError with a message that names the thing that is wrong. The CLI prints that message
alone, with no traceback, and exits with status 2.
"""


class InputError(ValueError):
    """Bad input from the user: the message says what is wrong and where."""
