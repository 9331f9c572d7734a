"""Fine-tuning the text encoder on labelled conversations (stage 1 of training), and cross-fitting.

The encoder learns with a linear head on its pooled output and cross-entropy on the gold emotions; dev
picks the epoch. Cross-fitting gives the train dialogues features from encoders that never saw them.
"""

import hashlib
import json
import os
import pickle
import random
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from sklearn.metrics import f1_score
from torch import nn
from tqdm.auto import tqdm

from spikemo.data.conversation import Conversation
from spikemo.errors import InputError
from spikemo.serialization import JsonDataclass
from spikemo.text.encoder import EncodedUtterance, TextEncoder, TextEncoderConfig
from spikemo.text.packaged import packaged_name


@dataclass
class TextFinetuneConfig(JsonDataclass):
    """Fine-tuning of the text encoder + a linear head with cross-entropy on the emotion labels.

    The defaults fit a CPU budget: two epochs of MiniLM over MELD's train split in minutes, not hours (the
    README's "Training" line gives the measured time). On a machine whose cores other jobs share, use one
    thread: torch's extra threads spin-wait for a busy core.
    """

    epochs: int = 2  # the second epoch still gained on dev; a third did not (train/results/text_encoder.md)
    batch_size: int = 32  # utterances per optimiser step
    learning_rate: float = 1e-4  # AdamW peak learning rate
    weight_decay: float = 0.01  # AdamW weight decay (not on biases and LayerNorm weights)
    warmup: float = 0.1  # fraction of the steps with a linear learning-rate ramp (then linear decay)
    seed: int = 0  # shuffling, dropout and the head's initialisation
    max_train_utterances: int | None = None  # a random subset of the train utterances (quick runs, tests)
    class_weighting: bool = False  # inverse-frequency CE weights: help rare classes, usually cost weighted F1
    freeze_embeddings: bool = True  # keep the word-embedding table fixed: faster steps, less over-fitting
    dropout: float = 0.1  # before the linear head
    num_threads: int | None = None  # torch CPU threads (None leaves torch's choice)
    # LoRA adapters of this rank on every linear layer instead of tuning the weights themselves: the
    # checkpoint then stores only the adapters (MBs, not the 438 MB of mpnet). None: full fine-tuning.
    lora_rank: int | None = None
    # With lora_rank: adapters only in the top this-many transformer layers. Back-propagation then stops at
    # the lowest of them, which makes a step several times cheaper on a CPU. None: every layer.
    lora_layers: int | None = None
    # Training steps under bfloat16 autocast (weights, optimiser and dev scoring stay float32): cheaper steps on
    # a CPU with AMX or on a GPU. Like num_threads, it may differ between the parts of a resumed run.
    bf16: bool = False


def labelled_utterances(encoder: TextEncoder, conversations: list[Conversation],
                        labels: tuple[str, ...]) -> tuple[list[EncodedUtterance], list[int]]:
    """Tokenised utterances that carry a gold emotion (unlabelled ones still serve as context), and label ids."""
    items = iter(encoder.tokenize(conversations))
    kept, targets = [], []
    for conversation in conversations:
        for i, utterance in enumerate(conversation.utterances):
            item = next(items)
            if utterance.emotion is None:
                continue
            if utterance.emotion not in labels:
                raise InputError(f"conversation {conversation.conversation_id}, utterance {i}: "
                                 f"emotion {utterance.emotion!r} is not one of {labels}")
            kept.append(item)
            targets.append(labels.index(utterance.emotion))
    return kept, targets


def _length_bucketed_batches(items: list[EncodedUtterance], batch_size: int,
                             generator: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, sort within pools of 50 batches, shuffle the batches."""
    order = list(range(len(items)))
    generator.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(items[i].input_ids))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    generator.shuffle(batches)
    return batches


def _dev_weighted_f1(encoder: TextEncoder, head: nn.Module, items: list[EncodedUtterance],
                     targets: list[int], batch_size: int) -> float:
    head.eval()
    features = torch.from_numpy(encoder.encode(items, batch_size=batch_size * 2)).to(encoder.device)
    with torch.inference_mode():
        predictions = head(features).argmax(dim=-1).cpu().numpy()
    return float(f1_score(targets, predictions, average="weighted"))


def add_lora_adapters(encoder: TextEncoder, rank: int, dropout: float, top_layers: int | None = None) -> None:
    """Freeze the encoder's weights and give its linear layers (those of the top `top_layers` transformer
    layers, or all) trainable LoRA adapters of `rank`; the encoder's config records its base model, which
    `save_pretrained` then leaves out of the saved folder."""
    depth = int(encoder.model.config.num_hidden_layers)
    first = depth - (top_layers or depth)
    targets = [
        name
        for name, module in encoder.model.named_modules()
        if isinstance(module, nn.Linear)
        and (layer := re.search(r"\.layers?\.(\d+)\.", name))
        and int(layer[1]) >= first
    ]
    if not targets:
        raise InputError(f"found no linear layers inside numbered transformer layers of {encoder.config.name_or_path}")
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=dropout, target_modules=targets)
    encoder.model = get_peft_model(encoder.model, lora)
    encoder.config = replace(encoder.config, base_model=packaged_name(encoder.config.name_or_path))


def prepare_training(encoder: TextEncoder, num_labels: int, config: TextFinetuneConfig
                     ) -> tuple[nn.Module, list[nn.Parameter]]:
    """Make `encoder` trainable as `config` says (LoRA adapters, frozen word embeddings) and give it a fresh
    linear head; returns (head, the parameters to train: the encoder's trainable ones, then the head's)."""
    if encoder.adapters_dir is not None:  # loaded from LoRA adapters, now merged into their base
        if config.lora_rank:
            raise InputError(f"{encoder.adapters_dir} holds LoRA adapters: new adapters cannot be stacked on them. "
                             f"Tune from their base ({encoder.config.base_model!r}), or tune this encoder in full")
        # Trained in full, the merged weights are the model: saved whole, no longer as adapters of a base.
        encoder.config = replace(encoder.config, base_model=None)
        encoder.adapters_dir = None
    if config.lora_rank:
        add_lora_adapters(encoder, config.lora_rank, config.dropout, config.lora_layers)
    if config.freeze_embeddings:
        encoder.model.get_input_embeddings().weight.requires_grad_(False)
    head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(encoder.dim, num_labels)).to(encoder.device)
    return head, [p for p in encoder.model.parameters() if p.requires_grad] + list(head.parameters())


def training_step(encoder: TextEncoder, head: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                  parameters: list[nn.Parameter], items: list[EncodedUtterance], targets: torch.Tensor,
                  bf16: bool = False) -> float:
    """One optimiser step on a batch of tokenised utterances and their label ids [B] (gradients clipped to
    norm 1); the forward pass under bfloat16 autocast when `bf16`. Returns the batch's loss."""
    with torch.autocast(encoder.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = head(encoder.pooled(encoder.collate(items)))  # [B, labels]
    loss = loss_fn(logits.float(), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, 1.0)
    optimizer.step()
    return loss.item()


def optimizer_and_schedule(parameters: list[nn.Parameter], config: TextFinetuneConfig, total_steps: int
                           ) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (no weight decay on biases and LayerNorm weights) with a linear warm-up, then linear decay to 0."""
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in parameters if p.ndim >= 2], "weight_decay": config.weight_decay},
         {"params": [p for p in parameters if p.ndim < 2], "weight_decay": 0.0}],
        lr=config.learning_rate,
    )
    total_steps = max(1, total_steps)
    warmup_steps = int(config.warmup * total_steps)

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _fingerprint(config: TextFinetuneConfig, encoder: TextEncoder, train_targets: list[int],
                 dev_targets: list[int]) -> str:
    """What a saved run state must match to be resumed: the recipe, the input recipe and the data's labels."""
    recipe = {k: v for k, v in config.to_dict().items() if k not in ("num_threads", "bf16")}
    inputs = {k: v for k, v in encoder.config.to_dict().items() if k not in ("name_or_path", "base_model")}
    labels = hashlib.sha256(np.asarray(train_targets + [-1] + dev_targets, dtype=np.int64).tobytes()).hexdigest()
    return json.dumps({"recipe": recipe, "inputs": inputs, "labels": labels}, sort_keys=True)


def _trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the parameters fine-tuning changes (all but the frozen ones: for LoRA, only the adapters)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _assign(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in weights.items():
            parameters[name].copy_(tensor)


def _save_state(path: Path, state: dict) -> None:
    """Write atomically: a run killed while saving keeps its previous state."""
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _load_state(path: Path, fingerprint: str) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise InputError(f"cannot resume from {path}: it is not a readable fine-tuning state ({error})") from error
    if state.get("fingerprint") != fingerprint:
        raise InputError(f"cannot resume from {path}: it was saved by a run with other settings or data; "
                         "delete it to start afresh")
    return state


def _training_data(encoder: TextEncoder, train: list[Conversation], dev: list[Conversation],
                   labels: tuple[str, ...], config: TextFinetuneConfig) -> tuple[list, list[int], list, list[int]]:
    """The labelled train and dev utterances with their targets; a seeded train subset under
    `config.max_train_utterances`."""
    train_items, train_targets = labelled_utterances(encoder, train, labels)
    dev_items, dev_targets = labelled_utterances(encoder, dev, labels)
    if not train_items or not dev_items:
        raise InputError("fine-tuning needs labelled utterances in both the train and the dev conversations")
    if config.max_train_utterances is not None and config.max_train_utterances < len(train_items):
        chosen = sorted(random.Random(config.seed).sample(range(len(train_items)), config.max_train_utterances))
        train_items = [train_items[i] for i in chosen]
        train_targets = [train_targets[i] for i in chosen]
    return train_items, train_targets, dev_items, dev_targets


def _loss_function(train_targets: list[int], n_labels: int, config: TextFinetuneConfig,
                   device: torch.device) -> nn.CrossEntropyLoss:
    """Cross-entropy, weighted by inverse class frequency when `config.class_weighting`."""
    if not config.class_weighting:
        return nn.CrossEntropyLoss()
    counts = np.bincount(train_targets, minlength=n_labels).astype(np.float64)
    weights = counts.sum() / (n_labels * np.maximum(counts, 1.0))
    return nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32, device=device))


@dataclass
class _FineTuneRun:
    """The pieces of one fine-tuning run and its resumable state. `run` says where the run stands: epoch and
    step, the losses so far, the history, the best epoch's weights and the batch-order state (`shuffler`) the
    current epoch started from."""

    encoder: TextEncoder
    head: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    fingerprint: str
    state_path: Path | None
    run: dict

    def save(self) -> None:
        if self.state_path is None:
            return
        on_gpu = self.encoder.device.type == "cuda"
        _save_state(self.state_path, {
            "fingerprint": self.fingerprint, "run": self.run, "trained": _trainable(self.encoder.model),
            "head": self.head.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.encoder.device) if on_gpu else None,
        })

    def restore(self) -> None:
        """Go on from the saved state when there is one (InputError if other settings or data made it)."""
        if self.state_path is None or not self.state_path.is_file():
            return
        state = _load_state(self.state_path, self.fingerprint)
        self.run = state["run"]
        _assign(self.encoder.model, state["trained"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if self.encoder.device.type == "cuda" and state["cuda_rng"] is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], self.encoder.device)


def _train_epoch(job: _FineTuneRun, shuffler: random.Random, items: list, targets: torch.Tensor,
                 loss_fn: nn.Module, parameters: list[nn.Parameter], config: TextFinetuneConfig, progress: bool,
                 save_every_s: float) -> float:
    """The rest of the current epoch's steps, saving the state every `save_every_s`; returns the time of the
    last save (perf_counter; the epoch's seconds before it are in run["epoch_seconds"])."""
    run, started = job.run, time.perf_counter()
    last_save = started
    job.encoder.model.train()
    job.head.train()
    shuffler.setstate(run["shuffler"])
    batches = _length_bucketed_batches(items, config.batch_size, shuffler)
    steps = tqdm(range(run["step"], len(batches)), desc=f"text fine-tune epoch {run['epoch']}",
                 initial=run["step"], total=len(batches), disable=not progress)
    for index in steps:
        rows = batches[index]
        loss = training_step(job.encoder, job.head, loss_fn, job.optimizer, parameters, [items[i] for i in rows],
                             targets[rows], config.bf16)
        job.scheduler.step()
        run["losses"].append(loss)
        run["step"] = index + 1
        if time.perf_counter() - last_save >= save_every_s and run["step"] < len(batches):
            run["epoch_seconds"] += time.perf_counter() - started
            job.save()
            started = last_save = time.perf_counter()
    return started


def finetune_text_encoder(encoder: TextEncoder, train: list[Conversation], dev: list[Conversation],
                          labels: tuple[str, ...], config: TextFinetuneConfig, progress: bool = True,
                          state_path: Path | None = None, save_every_s: float = 300.0) -> dict:
    """Fine-tune `encoder` with a linear head on its pooled output (CE on the gold emotions).

    Each epoch ends with the dev weighted F1 (sklearn, 0..1); the encoder keeps the weights of the best dev
    epoch (never test). Returns {"epochs": [{"epoch", "train_loss", "dev_weighted_f1", "seconds"}, ...],
    "best_epoch", "best_dev_weighted_f1", "train_utterances"}.

    state_path: the run's state (trained weights, optimiser, schedule, batch order and random state) is saved
    there every `save_every_s` seconds and after each epoch, and a run finding the file resumes from it where
    it stopped (InputError if other settings or data made it): a long run killed midway loses minutes, not
    hours. The file stays when the run ends; resuming a finished run only restores its best weights.
    """
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    train_items, train_targets, dev_items, dev_targets = _training_data(encoder, train, dev, labels, config)
    head, parameters = prepare_training(encoder, len(labels), config)
    steps_per_epoch = -(-len(train_items) // config.batch_size)
    optimizer, scheduler = optimizer_and_schedule(parameters, config, steps_per_epoch * config.epochs)
    loss_fn = _loss_function(train_targets, len(labels), config, encoder.device)
    targets = torch.tensor(train_targets, dtype=torch.long, device=encoder.device)
    shuffler = random.Random(config.seed)
    job = _FineTuneRun(encoder, head, optimizer, scheduler, _fingerprint(config, encoder, train_targets, dev_targets),
                       Path(state_path) if state_path is not None else None,
                       {"epoch": 1, "step": 0, "losses": [], "epoch_seconds": 0.0, "history": [], "best_f1": -1.0,
                        "best_epoch": 0, "best_weights": None, "shuffler": shuffler.getstate()})
    job.restore()
    while job.run["epoch"] <= config.epochs:
        run = job.run
        since = _train_epoch(job, shuffler, train_items, targets, loss_fn, parameters, config, progress,
                             save_every_s)
        dev_f1 = _dev_weighted_f1(encoder, head, dev_items, dev_targets, config.batch_size)
        run["history"].append({"epoch": run["epoch"], "train_loss": float(np.mean(run["losses"])),
                               "dev_weighted_f1": dev_f1,
                               "seconds": run["epoch_seconds"] + time.perf_counter() - since})
        if progress:
            print(f"text fine-tune epoch {run['epoch']}: loss {run['history'][-1]['train_loss']:.4f}, dev weighted "
                  f"F1 {dev_f1:.4f} ({run['history'][-1]['seconds']:.0f} s)", flush=True)
        if dev_f1 > run["best_f1"]:
            run.update(best_f1=dev_f1, best_epoch=run["epoch"], best_weights=_trainable(encoder.model))
        run.update(epoch=run["epoch"] + 1, step=0, losses=[], epoch_seconds=0.0, shuffler=shuffler.getstate())
        job.save()
    _assign(encoder.model, job.run["best_weights"])
    encoder.model.eval()
    return {"epochs": job.run["history"], "best_epoch": job.run["best_epoch"],
            "best_dev_weighted_f1": job.run["best_f1"], "train_utterances": len(train_items)}


def encode_cross_fitted(base: TextEncoderConfig, train: list[Conversation], dev: list[Conversation],
                        labels: tuple[str, ...], config: TextFinetuneConfig, folds: int,
                        progress: bool = True, device: str = "cpu", state_dir: Path | None = None) -> list[dict]:
    """Give every train utterance text features from an encoder that was not fine-tuned on its dialogue.

    The train dialogues are dealt into `folds` groups (seeded); for each group a fresh copy of the encoder
    `base` describes (its weights and input recipe) is fine-tuned on the other groups (dev picks its epoch)
    and encodes that group. A model trained on these features sees train inputs as noisy as the dev and test
    ones, instead of features of the very dialogues the encoder was fitted to. Returns each fold's
    `finetune_text_encoder` report. state_dir: each fold saves its resumable state there (`fold<k>_state.pt`).
    """
    if folds < 2 or folds > len(train):
        raise InputError(f"cross-fitting needs 2 to {len(train)} folds, not {folds}")
    order = list(range(len(train)))
    random.Random(config.seed).shuffle(order)
    reports = []
    for fold in range(folds):
        held_out = set(order[fold::folds])
        encoder = TextEncoder.from_pretrained(base.name_or_path, base, device=device)
        rest = [c for i, c in enumerate(train) if i not in held_out]
        state_path = Path(state_dir) / f"fold{fold}_state.pt" if state_dir is not None else None
        reports.append(finetune_text_encoder(encoder, rest, dev, labels, config, progress, state_path))
        encoder.encode_conversations([c for i, c in enumerate(train) if i in held_out], progress=progress)
    return reports
