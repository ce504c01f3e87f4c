"""The one error base every command reports the same way: one line on stderr per problem, and
the error's own exit status. Plain data: no I/O here."""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class OperatorError(Exception):
    """Something the operator can act on, said in words they can act on."""

    exit_code = EXIT_FAILED

    def messages(self) -> list[str]:
        """One line each, as printed after `error: `."""
        return str(self).splitlines() or [type(self).__name__]


class BadInput(OperatorError):
    """What the operator gave (an option, a config, a trace) is wrong: nothing was changed."""

    exit_code = EXIT_BAD_INPUT


class Interrupted(OperatorError):
    """A stop was asked for while waiting: the wait ended early, nothing was left half done."""

    exit_code = EXIT_INTERRUPTED
