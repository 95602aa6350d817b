"""The error types a user sees as one line.

Anything a user can get wrong (a file, a ratio, a method name, a mask shape, a target) raises
InputError with a message that names the thing that is wrong. The CLI prints that message
alone, with no traceback, and exits with status 2. CompileError is a limit of the compiler, not
bad input (exit status 1); MismatchError, a kind of it, is a build whose outputs differ from the
reference beyond the tolerance. RemoteError is an RPC tracker, server or board that could not
be reached or failed during a run: one line too, naming what to check, and, like bad input,
exit status 2 (the user fixes the address, the key, the board or a timeout).
"""


class InputError(ValueError):
    """Bad input from the user: the message says what is wrong and where."""


class CompileError(RuntimeError):
    """The model could not be built for the target (not bad input: a limit of the compiler)."""


class MismatchError(CompileError):
    """The compiled model's outputs differ from the reference (onnxruntime) beyond the tolerance."""


class RemoteError(InputError):
    """A remote device failed: tracker down, no server under the key, all servers busy, the
    connection lost mid-run, a session timeout, a library the board cannot load."""
