import numpy as np
import pytest
import torch

from spikemo.data.batching import collate_conversations, iterate_batches
from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.errors import InputError
from spikemo.training.metrics import classification_metrics


def _conversation(cid: str, speakers: list[str], emotions: list[str | None], dim: int = 3) -> Conversation:
    utterances = [
        Utterance(speaker=s, text=f"turn {i}", emotion=e, features={"text": np.full(dim, i, np.float32)})
        for i, (s, e) in enumerate(zip(speakers, emotions))
    ]
    return Conversation(cid, utterances)


def test_metrics_match_hand_counts():
    gold = ["joy", "joy", "anger", "neutral"]
    predicted = ["joy", "anger", "anger", "neutral"]
    metrics = classification_metrics(gold, predicted, MELD_LABELS)
    assert metrics["accuracy"] == 75.0
    assert metrics["per_class_f1"]["joy"] == pytest.approx(100 * 2 / 3, abs=0.01)
    assert metrics["per_class_f1"]["anger"] == pytest.approx(100 * 2 / 3, abs=0.01)
    assert metrics["per_class_f1"]["neutral"] == 100.0
    # weighted by gold support: joy 2, anger 1, neutral 1
    assert metrics["weighted_f1"] == pytest.approx((2 * 66.667 + 66.667 + 100) / 4, abs=0.01)
    assert metrics["confusion"][MELD_LABELS.index("joy")][MELD_LABELS.index("anger")] == 1
    assert metrics["n_utterances"] == 4


def test_metrics_refuse_mismatched_lengths():
    with pytest.raises(ValueError):
        classification_metrics(["joy"], [], MELD_LABELS)


def test_collate_pads_and_masks():
    a = _conversation("a", ["Ross", "Rachel", "Ross"], ["joy", None, "anger"])
    b = _conversation("b", ["Monica"], ["sadness"])
    batch = collate_conversations([a, b], ["text"], MELD_LABELS)
    assert batch.features["text"].shape == (2, 3, 3)
    assert batch.mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.speakers[0].tolist() == [0, 1, 0]
    assert batch.labels[0].tolist() == [MELD_LABELS.index("joy"), -1, MELD_LABELS.index("anger")]
    assert batch.labels[1].tolist() == [MELD_LABELS.index("sadness"), -1, -1]
    assert torch.equal(batch.features["text"][1, 1:], torch.zeros(2, 3))
    assert batch.features["text"][0, 2, 0] == 2.0


def test_collate_names_missing_modality():
    a = _conversation("a", ["Ross"], ["joy"])
    with pytest.raises(InputError, match="audio"):
        collate_conversations([a], ["audio"], MELD_LABELS)


def test_iterate_batches_covers_every_dialogue_once():
    conversations = [_conversation(str(i), ["A"], ["joy"]) for i in range(7)]
    ids = [
        cid
        for batch in iterate_batches(conversations, 3, ["text"], MELD_LABELS, torch.Generator().manual_seed(0))
        for cid in batch.conversation_ids
    ]
    assert sorted(ids) == sorted(str(i) for i in range(7))


def test_shuffled_batches_are_length_bucketed():
    conversations = [_conversation(str(i), ["A"] * (1 + i % 9), ["joy"] * (1 + i % 9)) for i in range(64)]
    batches = list(iterate_batches(conversations, 4, ["text"], MELD_LABELS, torch.Generator().manual_seed(0)))
    padding = sum(int((~b.mask).sum()) for b in batches)
    unbucketed = list(iterate_batches(conversations, 4, ["text"], MELD_LABELS))
    assert padding < sum(int((~b.mask).sum()) for b in unbucketed) / 2
    assert sorted(c for b in batches for c in b.conversation_ids) == sorted(str(i) for i in range(64))
