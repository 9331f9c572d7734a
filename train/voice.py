"""Train the voice-emotion model (spikemo.video.voice_emotion) on RAVDESS speech, choosing it with
leave-actors-out folds, and write the asset with its model card.

    python -m train.voice --data DIR [--out assets/voice/ravdess-compare] [--calm neutral|drop] [--folds 5]

Every clip under DIR is used (RAVDESS names, 16 kHz). The actors are split into `--folds` groups (actor
i goes to fold i mod K after sorting, so every fold mixes male and female voices); each configuration of
the grid is trained on K-1 groups and scored on the held-out group, so no clip is ever scored by a model
that heard its actor. The configuration with the best mean held-out weighted F1 is then trained on all
given actors and saved. The same folds score two references: chance (always the most frequent label) and a
plain standardised logistic regression from scikit-learn on the ComParE features.

Prints one JSON object (also written to --results) with every fold's scores, the choice and the timings, and
writes the report beside it (voice.md). `--reports-only` rebuilds the report, the asset's model card and its
recorded cross-validation summary from the results JSON alone (no data, no training).
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
from spikemo.training.cross_validation import actor_folds, cross_validate, fold_summary
from spikemo.video.voice_emotion import (
    CONFIG_FILE,
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
CALM_TEXT = {"neutral": "counted as neutral (calm has no MELD label)", "drop": "left out"}


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


def _model_name(config: dict) -> str:
    if config["hidden"] == 0:
        return "torch linear" + (f", input dropout {config['dropout']:g}" if config["dropout"] else ", no dropout")
    return f"MLP {config['hidden']}, dropout {config['dropout']:g}"


def _features_name(feature_set: str) -> str:
    return {"compare": "ComParE", "compare+egemaps": "ComParE + eGeMAPS"}[feature_set]


def _f1_list(pooled: dict) -> str:
    return ", ".join(f"{label} {f1:.2f}" for label, f1 in pooled["per_class_f1"].items())


def render_report(result: dict) -> str:
    """train/results/voice.md: the data, every configuration's leave-actors-out scores and the asset, every
    number from `result`."""
    chosen, lr, chance = result["chosen"], result["logistic_regression"], result["chance"]
    n_folds = len(result["folds"])
    rows = [f"| chance: always the most frequent label | - | {_mean_std(chance, 'accuracy')} | "
            f"{_mean_std(chance, 'weighted_f1')} | - |",
            f"| scikit-learn {lr['model'].rsplit(', ', 1)[0]} | ComParE | {_mean_std(lr, 'accuracy')} | "
            f"{_mean_std(lr, 'weighted_f1')} | {lr['seconds']} |"]
    for candidate in result["candidates"]:
        mark = "**" if candidate["config"] == chosen["config"] else ""
        name = _model_name(candidate["config"]) + (" (chosen)" if mark else "")
        cv = candidate["cv"]
        rows.append(f"| {mark}{name}{mark} | {_features_name(candidate['config']['feature_set'])} | "
                    f"{mark}{_mean_std(cv, 'accuracy')}{mark} | {mark}{_mean_std(cv, 'weighted_f1')}{mark} | "
                    f"{candidate['seconds']} |")
    settings = chosen["settings"]
    folds = "; ".join("{" + ", ".join(map(str, fold)) + "}" for fold in result["folds"])
    counts = ", ".join(f"{label} {n}" for label, n in result["data"]["label_counts"].items())
    per_fold = ", ".join(f"{fold['accuracy']:.2f}" for fold in chosen["cv"]["folds"])
    table = "\n".join(rows)
    return f"""# Voice emotion from RAVDESS

Made by `{result["command"]}` (one torch thread). Every number below is in [`voice.json`](voice.json), written
by that run; `python -m train.voice --reports-only` rebuilds this page and the asset's card from it.

## Data

RAVDESS speech, actors {result["data"]["actors"]}, {result["data"]["n_clips"]} clips at 16 kHz. Labels mapped
to MELD's: happy -> joy, sad -> sadness, angry -> anger, fearful -> fear, disgust, surprised -> surprise,
neutral -> neutral; calm {result["data"]["calm_policy_text"]}. Clips per label: {counts}. Licence: CC BY-NC-SA
4.0; the asset derived from it carries that licence in its model card. No clip or per-clip feature is in the
repository: features are cached under `spikemo.paths.cache_dir()/voice-features`. Features: openSMILE
ComParE_2016 functionals (6373-d) as the video pipeline extracts them, optionally followed by the eGeMAPSv02
functionals (88-d) that the pipeline computes for its prosody cues.

## Leave-actors-out model selection

{n_folds} folds of actors (actor i of the sorted list in fold i mod {n_folds}: {folds}); each configuration
is trained on the other folds' actors and scored on the held-out ones. Mean ± sample standard deviation over
the {n_folds} folds, in percent:

| model | features | accuracy | weighted F1 | seconds ({n_folds} folds) |
|---|---|---|---|---|
{table}

All torch models: AdamW (lr {settings["learning_rate"]:g}), {settings["epochs"]} epochs, batch
{settings["batch_size"]}, label smoothing {settings["label_smoothing"]:g}, seed {settings["seed"]}, inputs
standardised with the training folds' mean and std; weight decay as in `voice.json`.

Chosen model, held-out F1 per label pooled over the folds: {_f1_list(chosen["cv"]["pooled"])}. The logistic
regression: {_f1_list(lr["pooled"])}. Per fold, the chosen model's accuracy: {per_fold}. Pooled confusion
matrices: `voice.json`. One seed per configuration.

## The asset

`{result["asset"]}`: model.safetensors, config.json (with the weights' SHA-256 and the summary above), README.md
(the model card: data, the CC BY-NC-SA 4.0 licence, what acted speech means for conversations). Retrained on
every actor above with the chosen settings; the run took {result["timings"]["total_s"] / 60:.1f} minutes
({result["timings"]["features_s"]:.0f} s reading or extracting features).

`python -m spikemo evaluate-voice --data DIR` scores the asset on any RAVDESS folder; on the actors above it
scores the clips it was trained on (a training-set score). The leave-actors-out figures are the estimate of
how it does on new voices; held-back actors are the folder to give `evaluate-voice`.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.voice", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="RAVDESS speech folder (Actor_NN/*.flac)")
    parser.add_argument("--out", type=Path, default=DEFAULT_VOICE_MODEL, help="asset folder to write")
    parser.add_argument("--calm", choices=CALM_POLICIES, default="neutral", help="calm clips: as neutral, or left out")
    parser.add_argument("--folds", type=int, default=5, help="leave-actors-out folds")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--results", type=Path, default=RESULTS_PATH, help="JSON record of the run")
    parser.add_argument("--quick", action="store_true", help="a tiny grid and few epochs (tests only)")
    parser.add_argument("--reports-only", action="store_true",
                        help="rebuild the report, the asset's card and its recorded summary from --results")
    args = parser.parse_args(argv)
    if not args.reports_only and args.data is None:
        parser.error("--data is required (or --reports-only)")
    return args


def reference_scores(compare: np.ndarray, y: np.ndarray, actors: np.ndarray, folds: list[list[int]],
                     labels: tuple[str, ...], quick: bool) -> tuple[dict, dict]:
    """Chance (always the most frequent label) and a standardised logistic regression on ComParE [N, 6373],
    on the same folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    majority = int(np.bincount(y).argmax())
    chance = cross_validate(lambda train, test: np.full(test.sum(), majority), y, actors, folds, labels)

    def logistic(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200 if quick else 2000))
        return model.fit(compare[train], y[train]).predict(compare[test])

    begin = time.perf_counter()
    logistic_cv = cross_validate(logistic, y, actors, folds, labels)
    return chance, {**logistic_cv, "seconds": round(time.perf_counter() - begin, 1),
                    "model": "StandardScaler + LogisticRegression(C=1, lbfgs), ComParE_2016"}


def grid_search(features: tuple[np.ndarray, np.ndarray], y: np.ndarray, actors: np.ndarray,
                folds: list[list[int]], labels: tuple[str, ...], args: argparse.Namespace) -> list[dict]:
    """Every configuration of the grid scored on the folds: its config, settings, scores and time."""
    compare, egemaps = features
    settings = TrainSettings(epochs=3 if args.quick else args.epochs, seed=args.seed)
    candidates = []
    for feature_set, hidden, dropout, weight_decay in (QUICK_GRID if args.quick else GRID):
        config = VoiceEmotionConfig(feature_set=feature_set, hidden=hidden, dropout=dropout, labels=labels,
                                    calm=args.calm)
        run_settings = replace(settings, weight_decay=weight_decay)
        x = combine_features(compare, egemaps, feature_set)

        def neural(train: np.ndarray, test: np.ndarray, config=config, run_settings=run_settings, x=x) -> np.ndarray:
            net = fit(x[train], y[train], config, run_settings)
            return predict_proba(net, x[test]).argmax(axis=1)

        begin = time.perf_counter()
        cv = cross_validate(neural, y, actors, folds, labels)
        candidates.append({"config": config.to_dict(), "settings": asdict(run_settings), "cv": cv,
                           "seconds": round(time.perf_counter() - begin, 1)})
        print(f"{feature_set} hidden={hidden} dropout={dropout} wd={weight_decay}: weighted F1 "
              f"{_mean_std(cv, 'weighted_f1')}", file=sys.stderr, flush=True)
    return candidates


def train_chosen(chosen: dict, features: tuple[np.ndarray, np.ndarray], y: np.ndarray, clips: list,
                 calm: str, n_folds: int):
    """The chosen configuration trained on every given clip, its config recording the data and the folds."""
    actor_list = sorted({clip.actor for clip in clips})
    final_settings = TrainSettings(**chosen["settings"])
    final_config = VoiceEmotionConfig(**{**chosen["config"], "trained_on": (
        f"RAVDESS speech (acted), actors {actor_list[0]:02d}-{actor_list[-1]:02d}, {len(clips)} clips; "
        f"calm {CALM_TEXT[calm]}")})
    net = fit(combine_features(*features, final_config.feature_set), y, final_config, final_settings)
    final_config.training = {"settings": asdict(final_settings), "leave_actors_out": _summary_of(chosen["cv"]),
                             "folds": n_folds}
    net.config = final_config
    return net


def _summary_of(cv: dict) -> dict:
    return {k: v for k, v in cv.items() if k not in ("folds", "pooled")}


def resummarise(result: dict) -> dict:
    """`result` with every mean and std recomputed from its per-fold scores (fold_summary's definition)."""
    def again(cv: dict) -> dict:
        return {**cv, **fold_summary(cv["folds"])}

    candidates = [{**c, "cv": again(c["cv"])} for c in result["candidates"]]
    chosen = next(c for c in candidates if c["config"] == result["chosen"]["config"])
    return {**result, "chance": again(result["chance"]), "logistic_regression": again(result["logistic_regression"]),
            "candidates": candidates, "chosen": chosen}


def write_reports(result: dict, results_path: Path, asset: Path) -> None:
    """voice.json and voice.md beside it; the asset's card and recorded summary (its weights untouched)."""
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    results_path.with_suffix(".md").write_text(render_report(result), encoding="utf-8")
    config_path = asset / CONFIG_FILE
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["training"]["leave_actors_out"] = _summary_of(result["chosen"]["cv"])
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (asset / "README.md").write_text(render_model_card(result), encoding="utf-8")


def run_training(args: argparse.Namespace, argv: list[str]) -> dict:
    """Folds, references, grid, the chosen model saved as the asset; returns the run's record."""
    started = time.perf_counter()
    clips = find_clips(args.data, calm=args.calm)
    labels = tuple(label for label in MELD_LABELS if any(clip.label == label for clip in clips))
    y = np.array([labels.index(clip.label) for clip in clips])
    actors = np.array([clip.actor for clip in clips])
    folds = actor_folds(list(actors), args.folds)
    features = clip_features(clips, progress=True)
    features_s = time.perf_counter() - started
    chance, logistic_cv = reference_scores(features[0], y, actors, folds, labels, args.quick)
    candidates = grid_search(features, y, actors, folds, labels, args)
    chosen = max(candidates, key=lambda c: c["cv"]["weighted_f1_mean"])
    net = train_chosen(chosen, features, y, clips, args.calm, len(folds))
    actor_list = sorted(set(actors.tolist()))
    result = {
        # The data folder is the user's: recorded as RAVDESS_DIR, so no local path travels with the results.
        "command": "python -m train.voice " + " ".join("RAVDESS_DIR" if arg == str(args.data) else arg for arg in argv),
        "quick": args.quick,
        "data": {"n_clips": len(clips), "actors": ", ".join(f"{a:02d}" for a in actor_list),
                 "label_counts": label_counts(clips), "calm_policy": args.calm,
                 "calm_policy_text": CALM_TEXT[args.calm]},
        "folds": folds,
        "chance": chance,
        "logistic_regression": logistic_cv,
        "candidates": candidates,
        "chosen": chosen,
        "timings": {"features_s": round(features_s, 1), "total_s": round(time.perf_counter() - started, 1)},
        "asset": repo_relative(args.out),
    }
    save_voice_model(net, args.out, render_model_card(result))
    return result


def main(argv: list[str] | None = None) -> dict:
    argv = argv if argv is not None else sys.argv[1:]
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.reports_only:
        if not args.results.is_file():
            raise InputError(f"no results to rebuild the reports from: {args.results} does not exist")
        result = resummarise(json.loads(args.results.read_text(encoding="utf-8")))
    else:
        result = run_training(args, argv)
    write_reports(result, args.results, args.out)

    def brief(scores: dict) -> dict:
        return {k: v for k, v in scores.items() if k.endswith(("mean", "std"))}

    print(json.dumps({k: result[k] for k in ("data", "timings", "asset")} | {
        "chosen": {"config": result["chosen"]["config"], **brief(result["chosen"]["cv"])},
        "logistic_regression": brief(result["logistic_regression"]), "chance": brief(result["chance"]),
    }))
    return result


if __name__ == "__main__":
    sys.exit(run_command(main))
