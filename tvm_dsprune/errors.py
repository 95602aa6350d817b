"""The error types a user sees as one line.

Anything a user can get wrong (a file, a ratio, a method name, a mask shape, a target) raises
InputError with a message that names the thing that is wrong. The CLI prints that message
alone, with no traceback, and exits with status 2. CompileError is a limit of the compiler, not
bad input (exit status 1); MismatchError, a kind of it, is a build whose outputs differ from the
reference beyond the tolerance.
"""


class InputError(ValueError):
    """Bad input from the user: the message says what is wrong and where."""


class CompileError(RuntimeError):
    """The model could not be built for the target (not bad input: a limit of the compiler)."""


class MismatchError(CompileError):
    """The compiled model's outputs differ from the reference (onnxruntime) beyond the tolerance."""
