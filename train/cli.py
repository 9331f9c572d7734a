"""How the train entry points end when run as commands: a library error is one clear line, exit status 2."""

import sys
from collections.abc import Callable

from spikemo.errors import SpikEmoError


def run_command(main: Callable[[], object]) -> None:
    try:
        main()
    except SpikEmoError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
