"""One SpikEmo trained on two corpora at once: MELD transcripts (text; no audio) and RAVDESS acted speech
(audio with its sentence as text), selected on both, scored on held-out actors three ways.

    model_config = joint_model_config(text_config, text_dim=768, audio_dim=6373)
    result = train_joint(meld_train, meld_dev, ravdess_train, ravdess_dev, model_config, loss, train, patience=4)
    scores = held_out_scores(result.model, meld_dev, held_out_conversations)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from spikemo.data.conversation import Conversation, without_modality
from spikemo.model.configuration import LossConfig, SpikEmoConfig, TrainConfig
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.metrics import classification_metrics
from spikemo.training.trainer import TrainResult, evaluate_model, train_spikemo

SHORT_METRICS = ("weighted_f1", "accuracy", "per_class_f1", "n_utterances", "confusion")


def short_metrics(metrics: dict) -> dict:
    """The scores a report keeps of `classification_metrics`' output."""
    return {k: metrics[k] for k in SHORT_METRICS}


def joint_model_config(base: SpikEmoConfig, text_dim: int, audio_dim: int) -> SpikEmoConfig:
    """The text model's architecture with an audio path beside the text path."""
    return dataclasses.replace(base, modalities=("text", "audio"), input_dims={"text": text_dim, "audio": audio_dim},
                               context_modalities=())


def two_corpus_scorer(meld_dev: list[Conversation], ravdess_dev: list[Conversation]
                      ) -> Callable[[SpikEmoModel], dict]:
    """The epoch selection score: the mean of MELD dev's and the RAVDESS validation actors' weighted F1."""
    def score_dev(model: SpikEmoModel) -> dict:
        meld, ravdess = evaluate_model(model, meld_dev), evaluate_model(model, ravdess_dev)
        return {
            "weighted_f1": round((meld["weighted_f1"] + ravdess["weighted_f1"]) / 2, 2),
            "accuracy": round((meld["accuracy"] + ravdess["accuracy"]) / 2, 2),
            "details": {"meld_weighted_f1": meld["weighted_f1"], "ravdess_weighted_f1": ravdess["weighted_f1"],
                        "ravdess_accuracy": ravdess["accuracy"]},
        }
    return score_dev


def train_joint(meld_train: list[Conversation], meld_dev: list[Conversation], ravdess_train: list[Conversation],
                ravdess_dev: list[Conversation], model_config: SpikEmoConfig, loss_config: LossConfig,
                train_config: TrainConfig, patience: int) -> TrainResult:
    """Stage 2 on both corpora (batches hold one corpus each), epochs chosen by `two_corpus_scorer`."""
    return train_spikemo(meld_train + ravdess_train, meld_dev + ravdess_dev, model_config, loss_config, train_config,
                         patience=patience, score_dev=two_corpus_scorer(meld_dev, ravdess_dev))


def held_out_scores(model: SpikEmoModel, meld_dev: list[Conversation], held: list[Conversation]) -> dict:
    """MELD dev (text) and the held-out actors' clips read three ways: text+audio, audio only, text only."""
    return {
        "meld_dev": short_metrics(evaluate_model(model, meld_dev)),
        "ravdess_text_audio": short_metrics(evaluate_model(model, held)),
        "ravdess_audio_only": short_metrics(evaluate_model(model, without_modality(held, "text"))),
        "ravdess_text_only": short_metrics(evaluate_model(model, without_modality(held, "audio"))),
    }


def validation_actors(folds: list[list[int]], k: int) -> set[int]:
    """The first two actors of the next fold: fold k's selection set."""
    return set(folds[(k + 1) % len(folds)][:2])


def majority_scores(conversations: list[Conversation], labels: tuple[str, ...]) -> dict:
    """Chance: always the most frequent gold label (ties go to the label listed first)."""
    gold = [u.emotion for c in conversations for u in c.utterances]
    most = max(labels, key=gold.count)
    return {"label": most, **short_metrics(classification_metrics(gold, [most] * len(gold), labels))}
