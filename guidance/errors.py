"""The one exception hierarchy of agent guidance (scripts, macros, canned responses)."""


class GuidanceError(Exception):
    """Base class for every error of the guidance core."""


class TemplateError(GuidanceError, ValueError):
    """A message template does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column


class StepError(GuidanceError):
    """A script step cannot be done as asked (no such step, a macro step
    undone, a step done twice)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code
