"""Where SpikEmo finds its own files: the repository, the shipped assets and the cache for assembled models."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
MODEL_ASSETS_DIR = ASSETS_DIR / "models"  # small model files shipped with their licences
EXAMPLES_DIR = ASSETS_DIR / "examples"
DEFAULT_CHECKPOINT = ASSETS_DIR / "checkpoints" / "spikemo-meld-text"
DEFAULT_DATA_DIR = REPO_ROOT / "data" / "meld"


def cache_dir() -> Path:
    """Where models assembled from packages live: $SPIKEMO_CACHE, else $XDG_CACHE_HOME/spikemo, else
    ~/.cache/spikemo (never inside the repository, so nothing assembled ends up in git)."""
    if "SPIKEMO_CACHE" in os.environ:
        return Path(os.environ["SPIKEMO_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "spikemo"


def repo_relative(path: str | Path) -> str:
    """`path` relative to the repository when it lies inside it (for reports that travel), else as given."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(path)
