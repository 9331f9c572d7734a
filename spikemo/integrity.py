"""Checksums: every model file SpikEmo loads from a package or from `assets/` is checked against a pinned
SHA-256 first, and experiment records name the weights they used by their checksum."""

import hashlib
from pathlib import Path

from spikemo.errors import CheckpointError


def sha256_of(paths: list[Path]) -> str:
    """SHA-256 of the concatenation of `paths`, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def verify_sha256(paths: list[Path], expected: str, what: str) -> None:
    """Raise CheckpointError unless the files exist and their concatenation has SHA-256 `expected`."""
    missing = [str(path) for path in paths if not Path(path).is_file()]
    if missing:
        raise CheckpointError(f"{what}: model file not found: {', '.join(missing)}")
    actual = sha256_of(paths)
    if actual != expected.lower():
        raise CheckpointError(
            f"{what}: SHA-256 {actual} does not match the pinned {expected}; the model files are damaged "
            "or not the expected version"
        )


def read_verified_bytes(path: Path, expected: str) -> bytes:
    """The bytes of one model file, after checking its SHA-256 (CheckpointError when missing or altered)."""
    verify_sha256([Path(path)], expected, f"model file {path}")
    return Path(path).read_bytes()
