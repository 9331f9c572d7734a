"""Reader for the feature pickles that MultiEMO / SpikEmo's published code trains on.

Layout (a tuple of dicts keyed by dialogue id, plus the split lists):
    (videoIDs, videoSpeakers, videoLabels, videoText, videoAudio, videoVisual, videoSentence,
     trainVid, testVid[, extra])
- videoIDs[d]: utterance ids of dialogue d, in order
- videoSpeakers[d]: per utterance, MELD: a one-hot vector over the dialogue's speakers; IEMOCAP: 'M' or 'F'
- videoLabels[d]: per utterance, an int in the paper's label order (MELD_LABELS / IEMOCAP_LABELS)
- videoText/videoAudio/videoVisual[d]: [n_utterances, dim] features
- videoSentence[d]: per utterance, the transcript
The MELD files carry a tenth item that the code ignores; IEMOCAP's have nine.

Pickles can run code when loaded, so these files are read with a restricted unpickler that only builds
builtin containers and numpy arrays; anything else is refused with an InputError. Still, load such files only
from a place you trust: the restriction guards against code execution, not against absurd sizes.
"""

import codecs
import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.labels import IEMOCAP_LABELS, MELD_LABELS, MODALITIES
from spikemo.errors import InputError

DATASET_LABELS: dict[str, tuple[str, ...]] = {"meld": MELD_LABELS, "iemocap": IEMOCAP_LABELS}
SPLITS: tuple[str, ...] = ("train", "test")
IEMOCAP_SPEAKERS: tuple[str, ...] = ("M", "F")
MELD_SPEAKER_SLOTS = 9  # width of the one-hot speaker vectors in MultiEMO's MELD files

# numpy's own reconstruction helpers, taken from how numpy pickles (their module path moved in numpy 2).
_ARRAY_RECONSTRUCT = np.zeros(1).__reduce_ex__(2)[0]
_ARRAY_FROM_BUFFER = np.zeros(1).__reduce_ex__(5)[0]
_SCALAR_RECONSTRUCT = np.float32(0).__reduce_ex__(2)[0]

_SAFE_GLOBALS: dict[tuple[str, str], Any] = {}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _SAFE_GLOBALS[(_module, "_reconstruct")] = _ARRAY_RECONSTRUCT
    _SAFE_GLOBALS[(_module, "scalar")] = _SCALAR_RECONSTRUCT
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _SAFE_GLOBALS[(_module, "_frombuffer")] = _ARRAY_FROM_BUFFER
_SAFE_GLOBALS[("numpy", "ndarray")] = np.ndarray
_SAFE_GLOBALS[("numpy", "dtype")] = np.dtype
for _module in ("builtins", "__builtin__"):  # __builtin__: Python 2 pickles
    for _container in (set, frozenset, list, dict, tuple):
        _SAFE_GLOBALS[(_module, _container.__name__)] = _container
_SAFE_GLOBALS[("_codecs", "encode")] = codecs.encode  # how protocol-2 pickles from Python 3 store bytes
_SAFE_GLOBALS[("collections", "OrderedDict")] = collections.OrderedDict
_SAFE_GLOBALS[("collections", "defaultdict")] = collections.defaultdict


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only build builtin containers, numpy arrays and numpy scalars."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _load_restricted(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"feature pickle not found: {path}")
    with path.open("rb") as file:
        try:
            # latin1: Python 2 pickles store numpy buffers as byte strings.
            return RestrictedUnpickler(file, encoding="latin1").load()
        except pickle.UnpicklingError as error:
            raise InputError(f"{path} is not a MultiEMO feature pickle this reader accepts: {error}") from error
        except (EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
            raise InputError(f"{path} could not be read as a pickle: {error}") from error


def _labels_for(dataset: str) -> tuple[str, ...]:
    try:
        return DATASET_LABELS[dataset.lower()]
    except KeyError:
        raise InputError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASET_LABELS)}") from None


def _speaker_name(value: Any) -> str:
    """'M'/'F' stay as they are; a one-hot vector becomes 'speaker<index of its 1>'."""
    if isinstance(value, str):
        return value
    return f"speaker{int(np.argmax(np.asarray(value)))}"


def _utterance_id(value: Any, position: int) -> int:
    """MELD stores integer ids; IEMOCAP stores names like 'Ses01F_impro01_F000', for which the position is used."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return position


def _split_ids(ids: Any) -> list:
    """Dialogue ids of a split, in file order (sorted when the file stores a set)."""
    if isinstance(ids, (set, frozenset)):
        return sorted(ids, key=lambda x: (str(type(x)), x))
    return list(ids)


def _conversation(dialogue_id: Any, tables: dict[str, dict], labels: tuple[str, ...], path: Path) -> Conversation:
    try:
        utterance_ids = list(tables["ids"][dialogue_id])
        speakers = list(tables["speakers"][dialogue_id])
        label_ids = [int(label) for label in tables["labels"][dialogue_id]]
        sentences = list(tables["sentences"][dialogue_id])
        features = {m: np.asarray(tables[m][dialogue_id], dtype=np.float32) for m in MODALITIES}
    except KeyError:
        raise InputError(f"{path}: dialogue {dialogue_id!r} is listed in a split but missing from the tables") from None
    n = len(label_ids)
    lengths = {"ids": len(utterance_ids), "speakers": len(speakers), "sentences": len(sentences)}
    lengths.update({m: (len(f) if f.ndim == 2 else -1) for m, f in features.items()})
    if any(length != n for length in lengths.values()):
        raise InputError(f"{path}: dialogue {dialogue_id!r} has {n} labels but per-utterance tables of {lengths}")
    utterances = []
    for i in range(n):
        if not 0 <= label_ids[i] < len(labels):
            raise InputError(f"{path}: dialogue {dialogue_id!r}, utterance {i}: label {label_ids[i]} out of range")
        utterances.append(
            Utterance(
                speaker=_speaker_name(speakers[i]),
                text=str(sentences[i]),
                emotion=labels[label_ids[i]],
                utterance_id=_utterance_id(utterance_ids[i], i),
                features={m: features[m][i].copy() for m in MODALITIES},
            )
        )
    return Conversation(str(dialogue_id), utterances)


def read_multiemo_pickle(path: str | Path, dataset: str = "meld") -> dict[str, list[Conversation]]:
    """Read a MultiEMO-layout feature pickle into {"train": [...], "test": [...]} conversations.

    Each utterance gets features "text", "audio", "visual" (float32 [dim]), its emotion from the dataset's
    label list and its transcript from videoSentence. MultiEMO's MELD "train" split includes MELD's dev
    dialogues. Only a restricted set of types is unpickled (see the module docstring); still, read only files
    from a trusted source.
    """
    path = Path(path)
    labels = _labels_for(dataset)
    content = _load_restricted(path)
    if not isinstance(content, (tuple, list)) or len(content) not in (9, 10):
        raise InputError(
            f"{path}: expected a tuple of 9 or 10 items (videoIDs, videoSpeakers, videoLabels, videoText, "
            f"videoAudio, videoVisual, videoSentence, trainVid, testVid[, extra]), got {type(content).__name__}"
        )
    layout = "meld" if len(content) == 10 else "iemocap"
    if layout != dataset:
        raise InputError(
            f"{path} has {len(content)} items, the layout of MultiEMO's {layout.upper()} files, and it was given "
            f"as {dataset.upper()}: its labels would be read with the wrong label list; give the dataset as {layout}"
        )
    ids, speakers, label_table, text, audio, visual, sentences, train_ids, test_ids = content[:9]
    tables = {"ids": ids, "speakers": speakers, "labels": label_table, "text": text, "audio": audio,
              "visual": visual, "sentences": sentences}
    if not all(isinstance(table, dict) for table in tables.values()):
        raise InputError(f"{path}: the first seven items must be dicts keyed by dialogue id")
    return {
        split: [_conversation(d, tables, labels, path) for d in _split_ids(split_ids)]
        for split, split_ids in zip(SPLITS, (train_ids, test_ids))
    }
