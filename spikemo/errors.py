"""SpikEmo's exceptions: one base class, so callers (CLI, app) can catch everything with a readable message."""


class SpikEmoError(Exception):
    """Base class: the message is meant for the user, so it says what went wrong and what to do."""


class InputError(SpikEmoError):
    """Bad user input: a file, CSV, video or transcript that cannot be used as given."""


class CheckpointError(SpikEmoError):
    """A model checkpoint or model folder that is missing, unreadable or incompatible."""
