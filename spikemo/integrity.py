"""Checksums: every model file SpikEmo loads from a package or from `assets/` is checked against a pinned
SHA-256 first, and experiment records name the weights they used by their checksum. Models assembled on this
machine (a LoRA merge, an ONNX export) are built once into the cache with their own checksum (`built_once`)."""

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
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


DIGEST_FILE = "weights.sha256"  # in a folder built by built_once: the SHA-256 of its checked files


def built_once(folder: Path, checked: Sequence[str], build: Callable[[Path], None], what: str) -> Path:
    """`folder`, made on first use by `build(empty_folder)` in a scratch folder beside it and renamed into place
    last (an interrupted build never leaves a folder that looks complete), with the SHA-256 of its `checked` files
    recorded in DIGEST_FILE then; a folder without that record is built again. The record is checked on every
    call (CheckpointError, naming `what`, when the files changed since)."""
    if not (folder / DIGEST_FILE).is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
            building = Path(scratch) / folder.name
            building.mkdir()
            build(building)
            (building / DIGEST_FILE).write_text(sha256_of([building / name for name in checked]) + "\n")
            shutil.rmtree(folder, ignore_errors=True)
            building.rename(folder)
    verify_sha256([folder / name for name in checked], (folder / DIGEST_FILE).read_text().strip(), what)
    return folder
