"""Train the voice-emotion model (spikemo.video.voice_emotion) on RAVDESS speech, choosing it with
leave-actors-out folds, and write the asset with its model card.

    python -m train.voice --data DIR [--out assets/voice/ravdess-compare] [--calm neutral|drop] [--folds 5]

Every clip under DIR is used (RAVDESS names, 16 kHz). The actors are split into `--folds` groups (actor
i goes to fold i mod K after sorting, so every fold mixes male and female voices); each configuration of
the grid is trained on K-1 groups and scored on the held-out group, so no clip is ever scored by a model
that heard its actor. The configuration with the best mean held-out weighted F1 is then trained on all
given actors and saved. The same folds score two references: chance (always the most frequent label) and a
plain standardised logistic regression from scikit-learn on the ComParE features.

Prints one JSON object (also written to --results) with every fold's scores, the choice and the timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from spikemo.data.labels import MELD_LABELS
from spikemo.data.ravdess import CALM_POLICIES, find_clips, label_counts
from spikemo.errors import InputError, run_command
from spikemo.paths import REPO_ROOT, repo_relative
from spikemo.training.metrics import classification_metrics
from spikemo.video.voice_emotion import (
    DEFAULT_VOICE_MODEL,
    TrainSettings,
    VoiceEmotionConfig,
    clip_features,
    combine_features,
    fit,
    predict_proba,
    save_voice_model,
)

RESULTS_PATH = REPO_ROOT / "train" / "results" / "voice.json"

# The grid: (feature set, hidden width, dropout, weight decay). Linear and one-hidden-layer models.
GRID: tuple[tuple[str, int, float, float], ...] = (
    ("compare", 0, 0.0, 1e-2),
    ("compare", 0, 0.5, 1e-2),
    ("compare", 256, 0.5, 1e-2),
    ("compare+egemaps", 256, 0.5, 1e-2),
    ("compare+egemaps", 128, 0.5, 1e-2),
)
QUICK_GRID = (("compare", 0, 0.0, 1e-2), ("compare", 32, 0.5, 1e-2))


def actor_folds(actors: list[int], k: int) -> list[list[int]]:
    """Actors split into k groups, actor i (sorted) in group i mod k."""
    actors = sorted({int(actor) for actor in actors})
    if len(actors) < 2:
        raise InputError(f"leave-actors-out folds need at least 2 actors, the data has {len(actors)}")
    k = min(k, len(actors))
    return [actors[i::k] for i in range(k)]


def summarise(folds: list[dict]) -> dict:
    """Mean and standard deviation over folds of accuracy and weighted F1, plus the pooled scores."""
    out = {}
    for key in ("accuracy", "weighted_f1"):
        values = np.array([fold[key] for fold in folds])
        out[f"{key}_mean"] = round(float(values.mean()), 2)
        out[f"{key}_std"] = round(float(values.std()), 2)
    return out


def cross_validate(predict_fold, labels: np.ndarray, actors: np.ndarray, folds: list[list[int]],
                   label_names: tuple[str, ...]) -> dict:
    """Score `predict_fold(train_mask, test_mask) -> predicted label indices` on every fold."""
    scores, pooled = [], np.zeros_like(labels)
    for held in folds:
        test = np.isin(actors, held)
        predicted = predict_fold(~test, test)
        pooled[test] = predicted
        metrics = classification_metrics([label_names[i] for i in labels[test]],
                                         [label_names[i] for i in predicted], label_names)
        scores.append({"actors": held, "accuracy": metrics["accuracy"], "weighted_f1": metrics["weighted_f1"]})
    pooled_metrics = classification_metrics([label_names[i] for i in labels], [label_names[i] for i in pooled],
                                            label_names)
    return {**summarise(scores), "folds": scores, "pooled": pooled_metrics}


def _mean_std(scores: dict, key: str) -> str:
    return f"{scores[key + '_mean']:.2f} ± {scores[key + '_std']:.2f}"


def render_model_card(result: dict) -> str:
    """The asset's README.md, every number from `result` (this run)."""
    chosen = result["chosen"]
    cv = chosen["cv"]
    pooled = cv["pooled"]
    rows = "\n".join(f"| {label} | {f1:.2f} |" for label, f1 in pooled["per_class_f1"].items())
    counts = ", ".join(f"{label} {n}" for label, n in result["data"]["label_counts"].items())
    model = chosen["config"]
    kind = "a linear layer (multinomial logistic regression)" if model["hidden"] == 0 else \
        f"one hidden ReLU layer of {model['hidden']} units (dropout {model['dropout']})"
    lr, chance = result["logistic_regression"], result["chance"]
    quick = "\n**Quick mode: a small grid, for tests only. Not a usable model.**\n" if result["quick"] else ""
    return f"""---
license: cc-by-nc-sa-4.0
tags: [speech-emotion-recognition, opensmile, ravdess]
datasets: [ravdess]
---
# Voice emotion from openSMILE functionals, trained on RAVDESS acted speech
{quick}
A small classifier from one utterance's openSMILE functionals (`{model["feature_set"]}`: ComParE_2016
[6373]{" + eGeMAPSv02 [88]" if model["feature_set"] == "compare+egemaps" else ""}, as SpikEmo's video
pipeline extracts them) to MELD's seven emotion labels: standardisation (stored here), then {kind}.
SpikEmo's app shows its output as the *voice cue* beside the model's prediction.

## Data and licence

Trained on the **RAVDESS** speech clips (Livingstone & Russo 2018, PLoS ONE 13(5): e0196391,
doi:10.1371/journal.pone.0196391) of actors {result["data"]["actors"]} ({result["data"]["n_clips"]} clips,
16 kHz): {counts}. Calm clips: {result["data"]["calm_policy_text"]}. RAVDESS is licensed **CC BY-NC-SA 4.0**
(attribution, non-commercial, share-alike), and so is this model, which is derived from it: no commercial
use, and anything built from it shares alike. The clips themselves are not part of this repository.

## What it means for conversational speech

RAVDESS is **acted** speech: professional North-American actors reading two neutral sentences in a quiet
studio, each emotion played on purpose, at normal or strong intensity. Conversations are different:
emotions are mostly mild, mixed and carried by the words, microphones and rooms differ, people talk over
each other. Expect the cue to be much less reliable on real conversations than the scores below, and treat
it as a hint, not a verdict. It was never scored on conversational speech.

## How it was chosen, and its scores

Leave-actors-out: {len(cv["folds"])} folds of actors (actor i of the sorted list in fold i mod
{len(cv["folds"])}); every configuration was trained on the other folds' actors and scored on the held-out
actors, so no clip was scored by a model that heard its speaker. Chosen by mean held-out weighted F1, then
retrained on all the actors above.

| | accuracy | weighted F1 |
|---|---|---|
| this model (mean ± std over folds) | {_mean_std(cv, "accuracy")} | {_mean_std(cv, "weighted_f1")} |
| logistic regression, standardised ComParE | {_mean_std(lr, "accuracy")} | {_mean_std(lr, "weighted_f1")} |
| chance (always the most frequent label) | {_mean_std(chance, "accuracy")} | {_mean_std(chance, "weighted_f1")} |

Held-out F1 per label, pooled over the folds:

| label | F1 |
|---|---|
{rows}

Made by `python -m train.voice --data DIR` in {result["timings"]["total_s"] / 60:.1f} minutes on 2 CPU cores
(one torch thread; {result["timings"]["features_s"]:.0f} s of it reading or extracting the features, which are
cached after the first run). Settings: `config.json`; every fold: `train/results/voice.json` in the SpikEmo
repository.
"""


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m train.voice", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="RAVDESS speech folder (Actor_NN/*.flac)")
    parser.add_argument("--out", type=Path, default=DEFAULT_VOICE_MODEL, help="asset folder to write")
    parser.add_argument("--calm", choices=CALM_POLICIES, default="neutral", help="calm clips: as neutral, or left out")
    parser.add_argument("--folds", type=int, default=5, help="leave-actors-out folds")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="JSON record of the run")
    parser.add_argument("--quick", action="store_true", help="a tiny grid and few epochs (tests only)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    clips = find_clips(args.data, calm=args.calm)
    labels_present = tuple(label for label in MELD_LABELS if any(clip.label == label for clip in clips))
    y = np.array([labels_present.index(clip.label) for clip in clips])
    actors = np.array([clip.actor for clip in clips])
    folds = actor_folds(list(actors), args.folds)
    compare, egemaps = clip_features(clips, progress=True)
    features_s = time.perf_counter() - started

    settings = TrainSettings(epochs=3 if args.quick else args.epochs, seed=args.seed)
    majority = int(np.bincount(y).argmax())
    chance = cross_validate(lambda train, test: np.full(test.sum(), majority), y, actors, folds, labels_present)

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logistic(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200 if args.quick else 2000))
        return model.fit(compare[train], y[train]).predict(compare[test])

    begin = time.perf_counter()
    logistic_cv = cross_validate(logistic, y, actors, folds, labels_present)
    logistic_s = time.perf_counter() - begin

    candidates = []
    for feature_set, hidden, dropout, weight_decay in (QUICK_GRID if args.quick else GRID):
        config = VoiceEmotionConfig(feature_set=feature_set, hidden=hidden, dropout=dropout,
                                    labels=labels_present, calm=args.calm)
        run_settings = replace(settings, weight_decay=weight_decay)
        x = combine_features(compare, egemaps, feature_set)

        def neural(train: np.ndarray, test: np.ndarray, config=config, run_settings=run_settings, x=x) -> np.ndarray:
            net = fit(x[train], y[train], config, run_settings)
            return predict_proba(net, x[test]).argmax(axis=1)

        begin = time.perf_counter()
        cv = cross_validate(neural, y, actors, folds, labels_present)
        candidates.append({"config": config.to_dict(), "settings": asdict(run_settings), "cv": cv,
                           "seconds": round(time.perf_counter() - begin, 1)})
        print(f"{feature_set} hidden={hidden} dropout={dropout} wd={weight_decay}: accuracy "
              f"{cv['accuracy_mean']:.2f} ± {cv['accuracy_std']:.2f}, weighted F1 {cv['weighted_f1_mean']:.2f} "
              f"± {cv['weighted_f1_std']:.2f}", file=sys.stderr, flush=True)
    chosen = max(candidates, key=lambda c: c["cv"]["weighted_f1_mean"])

    actor_list = sorted(set(actors.tolist()))
    calm_text = {"neutral": "counted as neutral (calm has no MELD label)", "drop": "left out"}[args.calm]
    final_settings = TrainSettings(**chosen["settings"])
    final_config = VoiceEmotionConfig(**{**chosen["config"], "trained_on": (
        f"RAVDESS speech (acted), actors {actor_list[0]:02d}-{actor_list[-1]:02d}, {len(clips)} clips; "
        f"calm {calm_text}")})
    net = fit(combine_features(compare, egemaps, final_config.feature_set), y, final_config, final_settings)
    result = {
        # The data folder is the user's: recorded as RAVDESS_DIR, so no local path travels with the results.
        "command": "python -m train.voice " + " ".join(
            "RAVDESS_DIR" if arg == str(args.data) else arg for arg in (argv if argv is not None else sys.argv[1:])),
        "quick": args.quick,
        "data": {"n_clips": len(clips), "actors": ", ".join(f"{a:02d}" for a in actor_list),
                 "label_counts": label_counts(clips), "calm_policy": args.calm, "calm_policy_text": calm_text},
        "folds": folds,
        "chance": chance,
        "logistic_regression": {**logistic_cv, "seconds": round(logistic_s, 1),
                                "model": "StandardScaler + LogisticRegression(C=1, lbfgs), ComParE_2016"},
        "candidates": candidates,
        "chosen": chosen,
        "timings": {"features_s": round(features_s, 1), "total_s": round(time.perf_counter() - started, 1)},
    }
    final_config.training = {"settings": asdict(final_settings), "leave_actors_out": {
        k: v for k, v in chosen["cv"].items() if k not in ("folds", "pooled")}, "folds": len(folds)}
    net.config = final_config
    save_voice_model(net, args.out, render_model_card(result))
    result["asset"] = repo_relative(args.out)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    def brief(scores: dict) -> dict:
        return {k: v for k, v in scores.items() if k.endswith(("mean", "std"))}

    print(json.dumps({k: result[k] for k in ("data", "timings", "asset")} | {
        "chosen": {"config": chosen["config"], **brief(chosen["cv"])},
        "logistic_regression": brief(logistic_cv), "chance": brief(chance),
    }))
    return result


if __name__ == "__main__":
    sys.exit(run_command(main))
