"""Errors composer raises for bad user input (shown as one line, never a traceback)."""


class ComposerError(Exception):
    """A problem with the user's input or request; the CLI prints it as one line."""


class ScoreError(ComposerError):
    """A music file that cannot be read or used: names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
