"""Stage 2 training: SpikEmo on per-utterance features, model selection on dev only."""

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from spikemo.data.batching import iterate_batches
from spikemo.data.conversation import Conversation
from spikemo.errors import InputError
from spikemo.model.configuration import LossConfig, SpikEmoConfig, TrainConfig
from spikemo.model.losses import SpikEmoLoss
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.metrics import classification_metrics
from spikemo.training.predict import gold_and_predicted, predict_conversations


@dataclass
class TrainResult:
    """The best-on-dev model and the per-epoch history (losses, dev scores, seconds)."""

    model: SpikEmoModel
    history: list[dict]
    best_epoch: int
    best_dev: dict


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def feature_statistics(
    conversations: Sequence[Conversation], modalities: Sequence[str]
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per-modality mean and std [D_m] over the training utterances that carry it: the model standardises
    inputs by them (raw openSMILE functionals span many orders of magnitude)."""
    statistics = {}
    for modality in modalities:
        vectors = [u.features[modality] for c in conversations for u in c.utterances if modality in u.features]
        if not vectors:
            raise InputError(f"no training utterance has {modality} features")
        stacked = np.stack(vectors).astype(np.float64)
        statistics[modality] = (
            torch.from_numpy(stacked.mean(0)).float(),
            torch.from_numpy(stacked.std(0)).float(),
        )
    return statistics


def evaluate_model(
    model: SpikEmoModel, conversations: Sequence[Conversation], device: str | torch.device = "cpu"
) -> dict:
    """Predict every utterance and score it against the gold labels (metrics.classification_metrics)."""
    predict_conversations(model, conversations, batch_size=32, device=device)
    gold, predicted = gold_and_predicted(conversations)
    return classification_metrics(gold, predicted, model.config.labels)


def train_spikemo(
    train: Sequence[Conversation],
    dev: Sequence[Conversation],
    model_config: SpikEmoConfig,
    loss_config: LossConfig,
    train_config: TrainConfig,
    device: str | torch.device = "cpu",
    patience: int | None = None,
    progress: bool = True,
    score_dev: Callable[[SpikEmoModel], dict] | None = None,
) -> TrainResult:
    """Train with Adam and step decay; keep the epoch with the best dev weighted F1.

    patience: stop after this many epochs without a better dev score (None: run all epochs).
    score_dev: how the model is scored after each epoch, returning "weighted_f1" (what selects) and "accuracy"
    (default: `evaluate_model` on `dev`; training on two corpora may score each and combine them). The history
    keeps those two and any number in its "details" as "dev_<name>".
    """
    set_seed(train_config.seed)
    model = SpikEmoModel(model_config)
    model.set_feature_statistics(feature_statistics(train, model_config.modalities))
    model = model.to(device)
    loss_fn = SpikEmoLoss(loss_config)
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=train_config.learning_rate,
        betas=tuple(train_config.betas),
        weight_decay=train_config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=train_config.lr_decay_every, gamma=train_config.lr_decay
    )
    shuffle = torch.Generator().manual_seed(train_config.seed)
    history: list[dict] = []
    best_state, best_epoch, best_dev = None, 0, {"weighted_f1": -1.0}
    epochs = tqdm(range(1, train_config.epochs + 1), desc="SpikEmo", disable=not progress)
    for epoch in epochs:
        started = time.perf_counter()
        losses = _train_one_epoch(model, loss_fn, optimizer, train, train_config, shuffle, device)
        scheduler.step()
        dev_metrics = score_dev(model) if score_dev is not None else evaluate_model(model, dev, device)
        history.append(
            {
                "epoch": epoch,
                **losses,
                "dev_weighted_f1": dev_metrics["weighted_f1"],
                "dev_accuracy": dev_metrics["accuracy"],
                **{f"dev_{name}": value for name, value in dev_metrics.get("details", {}).items()},
                "learning_rate": optimizer.param_groups[0]["lr"],
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        epochs.set_postfix(loss=f"{losses['loss']:.3f}", dev_f1=dev_metrics["weighted_f1"])
        if dev_metrics["weighted_f1"] > best_dev["weighted_f1"]:
            best_state, best_epoch, best_dev = copy.deepcopy(model.state_dict()), epoch, dev_metrics
        elif patience is not None and epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return TrainResult(model=model, history=history, best_epoch=best_epoch, best_dev=best_dev)


def _train_one_epoch(
    model: SpikEmoModel,
    loss_fn: SpikEmoLoss,
    optimizer: torch.optim.Optimizer,
    train: Sequence[Conversation],
    train_config: TrainConfig,
    shuffle: torch.Generator,
    device: str | torch.device,
) -> dict[str, float]:
    """One pass over `train`; returns the mean of each loss term over batches."""
    model.train()
    totals: dict[str, float] = {}
    n_batches = 0
    modalities = model.config.modalities
    for batch in iterate_batches(train, train_config.batch_size, modalities, model.config.labels, shuffle):
        batch = batch.to(device)
        features = drop_a_modality(batch.features, train_config.modality_dropout, shuffle)
        output = model(features, batch.speakers, batch.mask)
        terms = loss_fn(output, batch.labels, batch.mask)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimizer.step()
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + float(value.detach())
        n_batches += 1
    return {name: round(total / n_batches, 4) for name, total in totals.items()}


def drop_a_modality(
    features: dict[str, torch.Tensor], probability: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """With `probability`, the features without one modality picked at random (only when there are several)."""
    if probability <= 0.0 or len(features) < 2 or torch.rand(1, generator=generator).item() >= probability:
        return features
    dropped = list(features)[int(torch.randint(len(features), (1,), generator=generator))]
    return {m: x for m, x in features.items() if m != dropped}
