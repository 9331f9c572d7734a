"""The model card (README.md) of a trained SpikEmo checkpoint, written from its measured metadata, and the one
way a training driver saves a checkpoint: save, score dev from the saved folder, write the card.

    metadata = save_scored_checkpoint(out, model, metadata, encoder, dev_csv)   # train.meld, train.joint
    rescore_dev(checkpoint, dev_csv)          # dev scored again on this CPU after a GPU run
    record_choices(checkpoint, ["kept the residual variant: table4.md"])
    record_dswa_effect(checkpoint, effect)     # train.dswa_effect --record: what DSWA decides, for the Learn tab
"""

from __future__ import annotations

from pathlib import Path

from spikemo.model.checkpoint import MODEL_CARD_NAME, save_checkpoint, update_checkpoint_metadata
from spikemo.model.configuration import SpikEmoConfig
from spikemo.model.modeling import SpikEmoModel, read_pretrained_config
from spikemo.text.encoder import TextEncoder
from spikemo.training.evaluate import evaluate_csv

DSWA_EFFECT_KEYS: tuple[str, ...] = (
    "csv", "dswa_variant", "time_steps", "utterances", "changed_without_dswa", "changed_with_spikes_silenced",
    "changed_with_order_shuffled", "weighted_f1", "order_shuffle_f1_drop", "weight_feature_correlation",
    "weight_change_T2")


def render_model_card(metadata: dict) -> str:
    """Markdown model card; every number in it comes from `metadata` (the run that made the checkpoint)."""
    dev = metadata["metrics"]["dev"]
    data = metadata["training_data"]
    rows = "\n".join(f"| {label} | {f1:.2f} |" for label, f1 in dev["per_class_f1"].items())
    stage1 = metadata["metrics"]["stage1"]
    timings = metadata["timings"]
    folds = data.get("cross_fit_folds", 0)
    stage2_features = (f"cross-fitted train features ({folds} encoders, each fine-tuned without one fold of the "
                       "train dialogues, encode that fold) and this encoder's dev features" if folds
                       else "that encoder's features")
    choices = "".join(f"\n- {choice}" for choice in metadata.get("choices", []))
    choices = f"\n## Choices made on dev\n{choices}\n" if choices else ""
    model = SpikEmoConfig.from_dict(metadata["model"]) if "model" in metadata else None
    dswa = (f" DSWA variant `{model.dswa_variant}`, T={model.time_steps}, LIF tau={model.lif_time_constant:g}."
            if model is not None and model.use_dswa else "")
    stage1_from = timings.get("stage1_reused_from")
    stage1_note = f" (stage 1 reused from `{stage1_from}`)" if stage1_from else ""
    quick = "\n**Quick mode: a tiny subset, for tests only. Not a usable model.**\n" if data["quick"] else ""
    ravdess = data.get("ravdess")
    rescored = _rescored(metadata)
    effect = _dswa_effect(metadata.get("dswa_effect"))
    return f"""---
license: {"other" if ravdess else "gpl-3.0"}
language: en
tags: [emotion-recognition, spiking-neural-network, erc, meld{", speech-emotion-recognition" if ravdess else ""}]
datasets: [meld{", ravdess" if ravdess else ""}]
metrics: [f1]
---
# SpikEmo, {"MELD transcripts and RAVDESS speech" if ravdess else "MELD transcripts, text only"}
{quick}
{_joint_intro(ravdess) if ravdess else _text_intro()}

- Modalities trained: {", ".join(metadata["modalities"])}
- Text encoder: {metadata["text_encoder_base"]}, fine-tuned on MELD train with dialogue context (stage 1,
  best epoch by dev weighted F1: {stage1["best_epoch"]}, dev weighted F1 of its own linear head
  {100 * stage1["best_dev_weighted_f1"]:.2f}); saved in `text_encoder/`.{_stage1_recipe(metadata)}
- SpikEmo (stage 2) on {stage2_features}: best epoch {metadata["metrics"]["stage2_best_epoch"]} chosen
  on dev.{dswa} Training data: {data["train_csv"]} ({data["train_dialogues"]} dialogues); selection: {data["dev_csv"]}
  ({data["dev_dialogues"]} dialogues). The test split was never seen.
- Labels (paper order): {", ".join(metadata["labels"])}

## Dev results (MELD dev, {dev["n_utterances"]} utterances)

Weighted F1 **{dev["weighted_f1"]:.2f}**, accuracy {dev["accuracy"]:.2f}.

| emotion | F1 |
|---|---|
{rows}

Measured by `python -m spikemo evaluate --csv data/meld/{data["dev_csv"]} --checkpoint <this folder>`{rescored}.
For comparison, the paper reports 59.56 weighted F1 for text-only SpikEmo on MELD *test* (with a RoBERTa-based
encoder); this card reports dev, the split used for model selection.
{effect}
## Training
`{metadata["command"]}`: {timings["total_seconds"] / 60:.1f} minutes in all {_hardware(timings)}
(stage 1: {timings["stage1_seconds"] / 60:.1f} minutes{stage1_note}). Configs and the
per-epoch history are in `config.json`.{_joint_time(timings) if ravdess else ""}
{choices}
## Licence and data
MELD (Poria et al., ACL 2019) is GPL-3.0; this model is trained on its transcripts.
{_encoder_licence(metadata["text_encoder_base"])} {_licence(ravdess)}
"""


def _dswa_effect(effect: dict | None) -> str:
    if not effect:
        return ""
    n = effect["utterances"]
    return f"""
## What DSWA and its spikes decide (`python -m train.dswa_effect --record`, {effect["csv"]}, {n} turns)

Skipping DSWA changes {effect["changed_without_dswa"]} decisions, silencing its spikes
{effect["changed_with_spikes_silenced"]}, shuffling each dialogue's turns {effect["changed_with_order_shuffled"]}
(weighted F1 {effect["weighted_f1"]["with_dswa"]:.2f} as trained, {effect["weighted_f1"]["without_dswa"]:.2f}
without DSWA, {effect["weighted_f1"]["spikes_silenced"]:.2f} with the spikes silenced). The weights correlate
{effect["weight_feature_correlation"]:.4f} with a plain softmax of DSWA's input features and move by
{effect["weight_change_T2"]:.4f} on average between T=2 and T={effect["time_steps"]}.
"""


def record_dswa_effect(checkpoint: Path, effect: dict) -> dict:
    """Keep `dswa_effect`'s headline figures in the checkpoint's config.json ("dswa_effect", read by the app's
    Learn tab) and in its card (when the card is one render_model_card writes: a checkpoint without the training
    metadata keeps its own); returns the updated metadata."""
    kept = {key: effect[key] for key in DSWA_EFFECT_KEYS}
    metadata = {**read_pretrained_config(checkpoint), "dswa_effect": kept}
    card = (render_model_card(metadata) if "metrics" in metadata
            else (Path(checkpoint) / MODEL_CARD_NAME).read_text(encoding="utf-8"))
    update_checkpoint_metadata(checkpoint, {"dswa_effect": kept}, card)
    return metadata


def _encoder_licence(base: str) -> str:
    """The offline encoders (both sentence-transformers models) are Apache-2.0; a hub id or folder has its own."""
    name = base.split(" (")[0]
    if "(offline" in base:
        return f"Its text encoder's base ({name}) is Apache-2.0."
    return f"Its text encoder's base ({name}) comes under its own licence."


def _stage1_recipe(metadata: dict) -> str:
    """How stage 1 tuned the encoder and what it reads, as one card line ("" for checkpoints that predate the
    encoder config in their metadata)."""
    tuning, reads = metadata.get("text_finetune"), metadata.get("text_encoder_config")
    if not tuning or not reads:
        return ""
    if tuning.get("lora_rank"):
        layers = f"the top {tuning['lora_layers']}" if tuning.get("lora_layers") else "all"
        how = f"LoRA adapters of rank {tuning['lora_rank']} in {layers} transformer layers"
    else:
        how = "all weights but the word embeddings" if tuning.get("freeze_embeddings") else "all weights"
    loss = "class-weighted cross-entropy" if tuning.get("class_weighting") else "cross-entropy"
    following = f" and the {reads['future_turns']} following" if reads.get("future_turns") else ""
    precision = " (training steps under bfloat16 autocast)" if tuning.get("bf16") else ""
    return (f"\n- Stage 1 recipe: {how}, {tuning['epochs']} epochs at peak learning rate {tuning['learning_rate']:g}, "
            f"{loss}{precision}; each utterance read with the {reads['context_turns']} previous turns{following}, "
            f"up to {reads['max_length']} tokens.")


def _rescored(metadata: dict) -> str:
    """Where dev was scored, when it was scored again after training on another machine ("" otherwise)."""
    before = metadata["metrics"].get("dev_at_training")
    if not before:
        return ""
    trained_on = metadata["timings"].get("device_name") or metadata["timings"].get("device", "cpu")
    return (f" on CPU, after training; on the machine that trained it ({trained_on}), the same command gave "
            f"{before['weighted_f1']:.2f} weighted F1 and {before['accuracy']:.2f} accuracy")


def _text_intro() -> str:
    return """SpikEmo (arXiv 2411.13917) trained on the **text** of MELD: the video clips cannot be fetched on the
machines this was trained on, so audio and visual were not used. The app still shows face-expression and
voice cues next to this model's prediction, but they are not part of it."""


def _joint_intro(ravdess: dict) -> str:
    return f"""SpikEmo (arXiv 2411.13917) trained on two corpora at once: the **text** of MELD's dialogues (their
video clips cannot be fetched on the machines this was trained on, so MELD brings no audio) and the
**voice** of RAVDESS acted speech (openSMILE ComParE_2016 functionals of each clip, with its sentence as
text), actors {", ".join(map(str, ravdess["actors"]))} in single-speaker pseudo-dialogues of
{ravdess["dialogue_length"]} clips (calm counted as {ravdess["calm"]}; epochs chosen on MELD dev and actors
{", ".join(map(str, ravdess["validation_actors"]))}). Each batch holds one corpus, so the model reads text
alone, audio with a sentence that says nothing of the emotion, and (by modality dropout) audio alone. The
audio path learned emotion only from actors reading two neutral sentences: on conversational speech its
voice is a hint, not a measurement. Visual features are not used."""


def _hardware(timings: dict) -> str:
    """Where the run trained: a GPU by name, else the CPU threads (older checkpoints record no device)."""
    if timings.get("device", "cpu").startswith("cuda"):
        return f"on one GPU ({timings.get('device_name') or 'CUDA'}); the model runs on CPU as well"
    return f"with {timings['threads']} torch thread(s) on a 2-core CPU"


def _joint_time(timings: dict) -> str:
    return (f" The joint SpikEmo stage (`train.joint --final`, on the text encoder above) took "
            f"{timings['joint_seconds'] / 60:.1f} minutes; the minutes before it are those of the text model whose "
            "encoder it reuses.")


def _licence(ravdess: dict | None) -> str:
    if not ravdess:
        return "This model is shared under GPL-3.0, MELD's licence."
    return ("RAVDESS (Livingstone & Russo 2018, https://doi.org/10.5281/zenodo.1188976) is CC BY-NC-SA 4.0: this "
            "model learned from both, so it is shared for non-commercial use only, under the terms of both "
            "(attribution, share-alike; MELD's GPL-3.0 for what comes from its transcripts). No RAVDESS clip "
            "or feature is stored in it.")


def record_choices(checkpoint: Path, choices: list[str]) -> dict:
    """Set the checkpoint's list of choices made on dev (config.json "choices") and rewrite its card from its
    config.json; returns the updated metadata."""
    metadata = {**read_pretrained_config(checkpoint), "choices": choices}
    update_checkpoint_metadata(checkpoint, {"choices": choices}, render_model_card(metadata))
    return metadata


def rescore_dev(checkpoint: Path, dev_csv: Path) -> dict:
    """Score the checkpoint on dev again on this machine's CPU, as `python -m spikemo evaluate` does, record it
    as the card's dev result and rewrite the card; the scores from the training machine are kept beside it
    (a GPU run's scores come from its own precision and copy of the base weights). Returns the metadata."""
    metadata = read_pretrained_config(checkpoint)
    dev = evaluate_csv(dev_csv, checkpoint, device="cpu")
    metrics = dict(metadata["metrics"])
    metrics.setdefault("dev_at_training", {k: metrics["dev"][k] for k in ("weighted_f1", "accuracy")})
    metrics = record_dev_scores(metrics, dev)
    metadata["metrics"] = metrics
    update_checkpoint_metadata(checkpoint, {"metrics": metrics}, render_model_card(metadata))
    return metadata


def record_dev_scores(metrics: dict, dev: dict) -> dict:
    """`metrics` with `evaluate_csv`'s dev result as the card's dev scores and confusion."""
    return {**metrics, "dev": {k: v for k, v in dev.items() if k not in ("confusion", "checkpoint", "csv")},
            "dev_confusion": dev["confusion"]}


def save_scored_checkpoint(out: Path, model: SpikEmoModel, metadata: dict, text_encoder: TextEncoder,
                           dev_csv: Path, device: str | None = None) -> dict:
    """Save the checkpoint, score `dev_csv` from the saved folder (the way `python -m spikemo evaluate` does, so
    the card's numbers are what a user measures) and write its card; returns the metadata with the scores."""
    save_checkpoint(out, model, metadata, model_card="", text_encoder=text_encoder)
    dev = evaluate_csv(dev_csv, out, device=device)
    metadata = {**metadata, "metrics": record_dev_scores(metadata["metrics"], dev)}
    update_checkpoint_metadata(out, {"metrics": metadata["metrics"]}, render_model_card(metadata))
    return metadata
