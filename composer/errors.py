"""Errors composer raises (shown by the CLI as one line, never a traceback).

Each class carries the exit code `compose` ends with: 2 for bad usage or bad input (the
default: an unreadable file, an unknown style, an unwritable destination), 1 for a failure
of the work itself (a write that fails midway, a full disk).
"""


class ComposerError(Exception):
    """A problem with the user's input or request; the CLI prints it as one line, exit 2."""

    exit_code = 2


class ScoreError(ComposerError):
    """A music file that cannot be read or used: names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable (from worker processes) despite the two arguments
        return type(self), (self.path, self.reason)


class RuntimeFailure(ComposerError):
    """The request was fine but the work failed (exit 1)."""

    exit_code = 1


class WriteError(RuntimeFailure, OSError):
    """A file could not be written (disk full, permission changed, another process won the
    path): names the file and the reason. Also an OSError, for callers that catch those."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        RuntimeFailure.__init__(self, f"{self.path}: {reason}")

    def __str__(self):
        return f"{self.path}: {self.reason}"

    def __reduce__(self):
        return type(self), (self.path, self.reason)
