"""File checksums shared by the model loaders and the experiment records."""

import hashlib
from pathlib import Path


def sha256_of(paths: list[Path]) -> str:
    """SHA-256 of the concatenation of `paths`, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
