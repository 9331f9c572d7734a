"""The data a stage-2 experiment trains on, whatever its source: MELD transcripts with a fine-tuned encoder's
text features (with or without dialogue context), feature stores extracted from MELD's clips, or MultiEMO's
feature files. Each `Dataset` names its source, so results from different features are never mixed.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from spikemo.data.conversation import Conversation
from spikemo.data.feature_store import load_feature_store
from spikemo.data.labels import MODALITIES
from spikemo.data.meld import read_meld_csv
from spikemo.data.multiemo import read_multiemo_pickle
from spikemo.integrity import sha256_of
from spikemo.paths import repo_relative
from spikemo.text.encoder import TextEncoder
from spikemo.text.feature_cache import encode_cached

# Ends the source of features read without context: run records keep their source, so reports rebuilt from
# the records alone know how the features were made.
CONTEXT_FREE_NOTE = ", each turn read without its neighbours"


@dataclasses.dataclass
class Dataset:
    """Conversations with features for every modality in `modalities`; `source` says where they came from."""

    train: list[Conversation]
    dev: list[Conversation]
    test: list[Conversation] | None
    modalities: tuple[str, ...]
    source: str
    dataset: str = "meld"  # whose labels, preset and paper numbers apply: "meld" or "iemocap"


def text_dataset(encoder_dir: Path, train_csv: Path, dev_csv: Path, test_csv: Path | None, quick: bool,
                 context: str = "shipped") -> Dataset:
    """MELD transcripts with text features from a fine-tuned encoder (the shipped checkpoint's by default).
    context "shipped": each turn read with the neighbours the encoder was trained with (3 back, 2 ahead for the
    shipped one); "none": each turn read alone, so only stage 2 can see the dialogue."""
    train, dev = read_meld_csv(train_csv), read_meld_csv(dev_csv)
    test = read_meld_csv(test_csv) if test_csv else None
    if quick:
        train, dev, test = train[:16], dev[:8], (test[:8] if test else None)
    encoder = TextEncoder.from_pretrained(str(encoder_dir))
    reading = ""
    if context == "none":
        encoder.config = dataclasses.replace(encoder.config, context_turns=0, future_turns=0)
        reading = "context_turns=0, future_turns=0"
    for conversations, csv in ((train, train_csv), (dev, dev_csv), (test, test_csv)):
        if conversations and quick:
            encoder.encode_conversations(conversations)
        elif conversations:  # the same features for every run: encoded once per encoder and CSV, then cached
            encode_cached(encoder, encoder_dir, conversations, csv, progress=True, reading=reading)
    # The weights' checksum names the features: a retrained encoder at the same path is another data source.
    weights = sha256_of(sorted(Path(encoder_dir).glob("*.safetensors")))[:12]
    subset = ", quick subset" if quick else ""
    alone = CONTEXT_FREE_NOTE if context == "none" else ""
    return Dataset(train, dev, test, ("text",), f"MELD transcripts{subset}, text features of "
                   f"`{repo_relative(encoder_dir)}` (weights sha256 {weights}){alone}")


def store_dataset(stores: dict[str, Path], csvs: dict[str, Path]) -> Dataset:
    """Features extracted from MELD's raw clips by `python -m train.extract_features`, one store per split
    (dialogue ids repeat across splits); `stores` and `csvs` map "train", "dev" and optionally "test"."""
    splits = {split: load_feature_store(store, csvs[split]) for split, store in stores.items()}
    modalities = tuple(m for m in MODALITIES if m in splits["train"][0].utterances[0].features)
    named = ", ".join(f"{split} `{repo_relative(store)}`" for split, store in stores.items())
    return Dataset(splits["train"], splits["dev"], splits.get("test"), modalities, f"feature stores {named}")


def multiemo_dataset(path: Path, dataset: str = "meld", dev_fraction: float = 0.1) -> Dataset:
    """MultiEMO feature pickle of `dataset` ("meld" or "iemocap"; a file of the other layout is refused). Its
    train split holds the dataset's dev dialogues, so a fixed, seeded share of train dialogues is held out as
    dev for model selection; its test split is only reported."""
    splits = read_multiemo_pickle(path, dataset)
    train = list(splits["train"])
    random.Random(0).shuffle(train)
    n_dev = max(1, int(len(train) * dev_fraction))
    return Dataset(train[n_dev:], train[:n_dev], splits["test"], MODALITIES,
                   f"MultiEMO {dataset.upper()} features {path.name}", dataset)
