"""SpikEmo's exceptions: one base class, so callers (CLI, app) can catch everything with a readable message."""

import os
import sys
from collections.abc import Callable


class SpikEmoError(Exception):
    """Base class: the message is meant for the user, so it says what went wrong and what to do."""


class InputError(SpikEmoError):
    """Bad user input: a file, CSV, video or transcript that cannot be used as given."""


class CheckpointError(SpikEmoError):
    """A model checkpoint or model folder that is missing, unreadable or incompatible."""


def run_command(command: Callable[[], object]) -> int:
    """Run a command-line command and return its exit status: 0, or 2 after a SpikEmoError.

    The error is printed as one line, `error: <message>`, on stderr: its message already says what to do, so
    every command (python -m spikemo, train.*, scripts) ends this way rather than with a traceback.
    """
    try:
        command()
    except SpikEmoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def exit_now(status: int) -> None:
    """End a command-line process with `status` once its output is flushed, skipping the interpreter's teardown:
    unloading torch, CTranslate2, MediaPipe and the rest adds about 1.5 s to a command that has nothing left to
    clean (every file it wrote is closed; temporary folders are removed by the code that made them)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
