"""The one root of Cadenza's own exceptions: a message, what to do next, and the exit code a command ends with.

Every first-party exception derives from `CadenzaError` (tests/unit/test_errors.py checks), so a door handles them
all in one place: the CLI prints `error: <message>` and the next step, then exits with `exit_code`; a process entry
point (cadenza.process_exit) does the same on one line. An exception keeps its other bases (`ValueError`,
`LookupError`, ...) so that code catching those still catches it.

Not here: failures that travel through Temporal. Those are `temporalio.exceptions.ApplicationError`s, whose type
string (cadenza.failure_types) and `non_retryable` flag decide retries; they cannot share this root without changing
how the server treats them.
"""

from __future__ import annotations

EXIT_PROBLEM = 1
"""The command ran and found a problem (or could not do what was asked)."""
EXIT_BAD_INPUT = 2
"""The input was refused before anything happened: fixing it and running again is safe."""


class CadenzaError(Exception):
    """An error a person can act on.

    `str(err)` is the message alone, as for any exception (the Order API puts it in its problem documents);
    `next_step` says what to do about it, `exit_code` how a command ends. Both have a default per class (class
    attributes) and can be given per raise: `raise OrderStuck(message, next_step="...")`."""

    exit_code: int = EXIT_PROBLEM
    next_step: str = ""

    def __init__(self, *args: object, next_step: str | None = None, exit_code: int | None = None) -> None:
        # Positional arguments go on to the other bases unchanged (OSError's errno and strerror, a subclass's own).
        super().__init__(*args)
        if next_step is not None:
            self.next_step = next_step
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)

    def report(self, next_step: str | None = None) -> str:
        """The message and, on the next line, the next step (this error's, unless a door words its own): what a
        command prints."""
        message = self.message or type(self).__name__
        step = self.next_step if next_step is None else next_step
        return f"{message}\n{step}" if step else message


class InvalidInput(CadenzaError):
    """Input refused before anything happened (a file, an option, a setting): fix it and run again."""

    exit_code = EXIT_BAD_INPUT
