"""Errors a user can act on, each with the exit code the CLI returns for it."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_ARM_FAILED = 3
EXIT_ENVIRONMENT = 4  # the machine failed us: a full disk, a daemon gone, a permission
EXIT_NO_METRICS = 5  # the arms ran, but abtui read no metric from one of them: nothing to compare


class AbtuiError(Exception):
    """An error with a message meant for the user, never a traceback."""

    exit_code = EXIT_USAGE


class SpecError(AbtuiError):
    """The experiment spec is invalid. ``problems`` holds one line per problem."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: invalid experiment spec\n{lines}")


class RunDirError(AbtuiError):
    """A run directory is missing, unreadable or not an abtui run."""


class BackendError(AbtuiError):
    """A backend could not do what was asked (daemon down, image missing, ...)."""

    exit_code = EXIT_ARM_FAILED


class EnvironmentFailure(AbtuiError):
    """The environment, not the spec, failed: no space left, a permission denied, an
    engine that went away. Nothing already written is lost; the arms keep running."""

    exit_code = EXIT_ENVIRONMENT
