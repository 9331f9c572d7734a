"""The training loop really learns, through every modality's path, and selects on dev."""


import numpy as np
import pytest

from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.model.configuration import LossConfig, SpikEmoConfig, TrainConfig
from spikemo.training.trainer import evaluate_model, train_spikemo
from tests.helpers import tiny_config

DIMS = {"text": 12, "audio": 20, "visual": 10}


def generated_dialogues(n: int, informative: str, seed: int) -> list[Conversation]:
    """Dialogues where only `informative`'s features carry the label (a class prototype + noise);
    the other modalities are pure noise."""
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(123).normal(size=(len(MELD_LABELS), DIMS[informative]))
    conversations = []
    for d in range(n):
        utterances = []
        for i in range(int(rng.integers(3, 8))):
            label = int(rng.integers(len(MELD_LABELS)))
            features = {m: rng.normal(size=dim).astype(np.float32) for m, dim in DIMS.items()}
            features[informative] = (prototypes[label] + 0.5 * rng.normal(size=DIMS[informative])).astype(
                np.float32
            )
            utterances.append(Utterance(speaker="AB"[i % 2], text="", emotion=MELD_LABELS[label], features=features))
        conversations.append(Conversation(f"{seed}-{d}", utterances))
    return conversations


def small_config(**changes) -> SpikEmoConfig:
    return tiny_config(**{"input_dims": DIMS, "hidden_size": 32, "fusion_ffn": 64, **changes})


@pytest.mark.slow
@pytest.mark.parametrize("informative", ["audio", "visual"])
def test_three_modality_model_learns_from_one_informative_modality(informative):
    train = generated_dialogues(80, informative, seed=1)
    dev = generated_dialogues(25, informative, seed=2)
    result = train_spikemo(
        train,
        dev,
        small_config(),
        LossConfig(),
        TrainConfig(learning_rate=3e-3, epochs=12, batch_size=8),
        progress=False,
    )
    chance = 100 / len(MELD_LABELS)
    assert result.best_dev["accuracy"] > 4 * chance, result.history
    # the returned model is the best-on-dev epoch's
    assert evaluate_model(result.model, dev)["weighted_f1"] == pytest.approx(result.best_dev["weighted_f1"])
    assert {"loss", "ce", "dice", "corr", "dev_weighted_f1", "seconds"} <= set(result.history[0])


def test_history_and_early_stop():
    train = generated_dialogues(10, "audio", seed=3)
    dev = generated_dialogues(4, "audio", seed=4)
    result = train_spikemo(
        train,
        dev,
        small_config(modalities=("audio",), context_modalities=()),
        LossConfig(use_corr=False),
        TrainConfig(learning_rate=0.0, epochs=10, batch_size=4),
        patience=2,
        progress=False,
    )
    # learning rate 0: dev never improves after epoch 1, so patience 2 stops at epoch 3
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.best_epoch == 1
