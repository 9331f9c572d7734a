"""The paper's experiments on the data at hand: loss/DSWA ablations (Table IV), the T sweep (Figure 4) and
modality subsets (Table V), each configuration over several seeds, selected on dev, beside the paper's numbers.

    python -m train.experiments                      # MELD transcripts, text features of the shipped encoder
    python -m train.experiments --train-store DIR --dev-store DIR   # features of MELD's clips, one store per split
    python -m train.experiments --multiemo FILE.pkl  # the paper's MultiEMO-format feature files (trusted files only)
    python -m train.experiments --quick              # the real loop on a tiny subset (what the tests run)
    python -m train.experiments --dswa-variant residual   # the other DSWA structure (spikemo.model.dswa)

Each DSWA variant writes to a results folder of its own (train/results/dswa-<variant>/ by default). Every run
with DSWA is also scored on dev with its spikes silenced (Table IV's "spikes_silenced" row) and measured with
spikemo.training.dswa_ablation (decisions that change, what the weights follow).

Every run writes its JSON under <results>/runs/ and is skipped when that JSON exists, so an interrupted
invocation resumes where it stopped. The markdown tables and the plot are rebuilt from all run JSONs.
"""

import argparse
import dataclasses
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from spikemo.bench.model import bench_model
from spikemo.data.labels import MODALITIES
from spikemo.errors import InputError, run_command
from spikemo.model.configuration import (
    DSWA_VARIANTS,
    LossConfig,
    SpikEmoConfig,
    TrainConfig,
    iemocap_preset,
    meld_preset,
)
from spikemo.paths import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR, REPO_ROOT, repo_relative
from spikemo.training.datasets import CONTEXT_FREE_NOTE, Dataset, multiemo_dataset, store_dataset, text_dataset
from spikemo.training.dswa_ablation import dswa_effect
from spikemo.training.summary import mean_and_std, mean_std
from spikemo.training.trainer import evaluate_model, train_spikemo

RESULTS_DIR = REPO_ROOT / "train" / "results"
TIME_STEPS = (2, 4, 8, 16, 32, 64)

# The paper's MELD weighted F1 (arXiv 2411.13917): Table IV (ablations, all three modalities) and Table V
# (modality subsets). None: the paper reports no such number. Figure 4 gives the T sweep only as a plot.
PAPER_TABLE4 = {"full": 65.92, "no_dice": 64.10, "no_corr": 63.00, "no_dice_no_corr": 61.53, "no_dswa": 62.44}
PAPER_TABLE5 = {
    ("text",): 59.56, ("audio",): 35.91, ("visual",): 31.27, ("audio", "visual"): 39.98, ("text", "audio"): 62.22,
    ("text", "visual"): 63.22, ("text", "audio", "visual"): 65.92,
}
ABLATIONS = {
    "full": ({}, {}),
    "no_dice": ({}, {"use_dice": False}),
    "no_corr": ({}, {"use_corr": False}),
    "no_dice_no_corr": ({}, {"use_dice": False, "use_corr": False}),
    "no_dswa": ({"use_dswa": False}, {}),
}
# IEMOCAP's numbers in the paper, for MultiEMO-format IEMOCAP files (--dataset iemocap).
PAPER_IEMOCAP_TABLE4 = {"full": 71.50, "no_dice": 69.75, "no_corr": 69.84, "no_dice_no_corr": None,
                        "no_dswa": 69.03}
PAPER_IEMOCAP_TABLE5 = {("text",): 64.77, ("text", "audio", "visual"): 71.50}
# Table IV's rows: the trained ablations, and the full runs scored with every spike silenced (no training).
TABLE4_ROWS = ("full", "spikes_silenced", "no_dice", "no_corr", "no_dice_no_corr", "no_dswa")
EFFECT_KEYS = ("changed_without_dswa", "changed_with_spikes_silenced", "weight_feature_correlation",
               "weight_feature_correlation_multi_turn", "weight_feature_correlation_within_dialogue",
               "weight_change_T2", "changed_with_order_shuffled", "order_shuffle_f1_drop")
# The DSWA variants side by side on the same features, paired by seed with a retrained baseline without DSWA
# (`--experiments variants`): the Spikformer variants over simulated time, the conversation-time variant as a
# weight and as added features, and its spike-free control (the same leaky integrators, no spikes).
VARIANT_ROWS = {
    "no_dswa": {"use_dswa": False},
    "reference": {"dswa_variant": "reference"},
    "residual": {"dswa_variant": "residual"},
    "conversation": {"dswa_variant": "conversation"},
    "conversation_features": {"dswa_variant": "conversation", "conversation_output": "features"},
    "conversation_spike_free": {"dswa_variant": "conversation", "conversation_spiking": False},
}


@dataclasses.dataclass
class RunSpec:
    """One training run: an experiment's configuration at one seed."""

    experiment: str
    name: str
    seed: int
    model_changes: dict
    loss_changes: dict

    @property
    def run_id(self) -> str:
        return f"{self.experiment}-{self.name}-seed{self.seed}"


def table4_specs(seeds: Sequence[int]) -> list[RunSpec]:
    return [
        RunSpec("table4", name, seed, model, loss) for name, (model, loss) in ABLATIONS.items() for seed in seeds
    ]


def variant_specs(seeds: Sequence[int]) -> list[RunSpec]:
    return [RunSpec("variants", name, seed, changes, {}) for name, changes in VARIANT_ROWS.items() for seed in seeds]


def figure4_specs(seeds: Sequence[int], time_steps: Sequence[int]) -> list[RunSpec]:
    return [RunSpec("figure4", f"T{t}", s, {"time_steps": t}, {}) for t in time_steps for s in seeds]


def table5_specs(seeds: Sequence[int], modalities: Sequence[str]) -> list[RunSpec]:
    subsets = [tuple(m for m in MODALITIES if m in subset) for subset in _subsets(modalities)]
    return [RunSpec("table5", "+".join(sub), s, {"modalities": sub}, {}) for sub in subsets for s in seeds]


def _subsets(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    items = list(modalities)
    return [tuple(m for i, m in enumerate(items) if mask >> i & 1) for mask in range(1, 2 ** len(items))]


def inert_reason(spec: RunSpec, modalities: Sequence[str]) -> str | None:
    """Why a configuration would measure nothing new on this data (then it is not run), else None."""
    used = spec.model_changes.get("modalities", modalities)
    if len(used) < 2 and spec.loss_changes.get("use_corr") is False:
        same_as = "no_dice" if spec.loss_changes.get("use_dice") is False else "full"
        return f"not run: L_corr needs two modalities, so with one this is the same run as {same_as}"
    return None


def base_configs(dataset: Dataset, epochs: int, batch_size: int, quick: bool, dswa_variant: str):
    model_config, loss_config, train_config = iemocap_preset() if dataset.dataset == "iemocap" else meld_preset()
    dims = {m: int(dataset.train[0].utterances[0].features[m].shape[-1]) for m in dataset.modalities}
    model_config = dataclasses.replace(
        model_config,
        modalities=dataset.modalities,
        input_dims=dims,
        context_modalities=tuple(m for m in ("audio", "visual") if m in dataset.modalities),
        dswa_variant=dswa_variant,
    )
    train_config = dataclasses.replace(train_config, epochs=epochs, batch_size=batch_size)
    if quick:
        model_config, train_config = model_config.tiny(), train_config.tiny()
    return model_config, loss_config, train_config


def run_one(spec: RunSpec, dataset: Dataset, configs, patience: int | None, models_dir: Path | None) -> dict:
    """Train one configuration and score it on dev (and test when given); with DSWA, also with its spikes
    silenced. With models_dir, the trained model is saved under models_dir/<run id>."""
    model_config, loss_config, train_config = configs
    changes = dict(spec.model_changes)
    if "modalities" in changes:
        changes["input_dims"] = {m: model_config.input_dims[m] for m in changes["modalities"]}
        changes["context_modalities"] = tuple(m for m in model_config.context_modalities if m in changes["modalities"])
    model_config: SpikEmoConfig = dataclasses.replace(model_config, **changes)
    loss_config: LossConfig = dataclasses.replace(loss_config, **spec.loss_changes)
    train_config: TrainConfig = dataclasses.replace(train_config, seed=spec.seed)
    result = train_spikemo(dataset.train, dataset.dev, model_config, loss_config, train_config,
                           patience=patience, progress=False)
    record = {
        **dataclasses.asdict(spec),
        "source": dataset.source,
        "model": model_config.to_dict(),
        "loss": loss_config.to_dict(),
        "train": train_config.to_dict(),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "dev": {k: v for k, v in result.best_dev.items() if k != "confusion"},
    }
    if dataset.test is not None:
        record["test"] = {k: v for k, v in evaluate_model(result.model, dataset.test).items() if k != "confusion"}
    if model_config.use_dswa:
        effect = dswa_effect(result.model, dataset.dev)
        record["dev_spikes_silenced"] = effect["scores"]["spikes_silenced"]
        record["dev_order_shuffled"] = effect["scores"]["order_shuffled"]
        record["dswa_effect"] = {k: effect[k] for k in EFFECT_KEYS}
    steps = model_config.time_steps
    record["latency_ms"] = bench_model(result.model, time_steps=(steps,))["latency_ms"][steps]
    if models_dir is not None:
        result.model.save_pretrained(models_dir / spec.run_id, {"run": spec.run_id, "source": dataset.source,
                                                                "dev": record["dev"]})
    return record


def summarise(records: list[dict], split: str) -> dict[str, dict]:
    """Per configuration name: n seeds, weighted F1 and per-class F1 values on `split`."""
    grouped: dict[str, dict] = {}
    for record in records:
        if split not in record:
            continue
        entry = grouped.setdefault(record["name"], {"weighted_f1": [], "per_class": {}, "latency_ms": [], "seeds": []})
        entry["weighted_f1"].append(record[split]["weighted_f1"])
        entry["seeds"].append(f"{record['seed']}: {record[split]['weighted_f1']:.2f} (epoch {record['best_epoch']})")
        for label, f1 in record[split]["per_class_f1"].items():
            entry["per_class"].setdefault(label, []).append(f1)
        entry["latency_ms"].append(record["latency_ms"])
    return grouped


def markdown_table(records: list[dict], names: Sequence[str], paper: dict, inert: dict[str, str], split: str,
                   dataset: str = "meld") -> str:
    """One row per configuration: seeds run, weighted F1 and per-class F1 (mean ± std), the median forward
    latency of a 20-utterance dialogue (ms), the paper's number, and each seed's score with its best epoch."""
    grouped = summarise(records, split)
    labels = next((list(g["per_class"]) for g in grouped.values()), [])
    header = (f"| configuration | seeds | {split} weighted F1 | paper ({dataset.upper()} test) | latency (ms) | "
              + " | ".join(labels) + " | per seed: F1 (best epoch) |")
    lines = [header, "|" + "---|" * (6 + len(labels))]
    for name in names:
        paper_value = paper.get(name)
        paper_text = f"{paper_value:.2f}" if paper_value is not None else "not reported"
        if name in inert:
            lines.append(f"| {name} | – | {inert[name]} | {paper_text} | |" + " |" * (len(labels) + 1))
            continue
        entry = grouped.get(name)
        if entry is None:
            lines.append(f"| {name} | 0 | not run yet | {paper_text} | |" + " |" * (len(labels) + 1))
            continue
        per_class = " | ".join(mean_std(entry["per_class"][label]) for label in labels)
        latency = statistics.median(entry["latency_ms"])
        lines.append(f"| {name} | {len(entry['weighted_f1'])} | {mean_std(entry['weighted_f1'])} | {paper_text} | "
                     f"{latency:.1f} | {per_class} | {'; '.join(entry['seeds'])} |")
    return "\n".join(lines)


def figure4_plot(records: list[dict], path: Path) -> None:
    grouped = summarise(records, "dev")
    steps = sorted(int(name[1:]) for name in grouped)
    if not steps:
        return
    f1 = [grouped[f"T{t}"]["weighted_f1"] for t in steps]
    latency = [grouped[f"T{t}"]["latency_ms"] for t in steps]
    figure, axis = plt.subplots(figsize=(6, 3.6))
    spread = [mean_and_std(v) for v in f1]
    axis.errorbar(steps, [mean for mean, _ in spread], yerr=[std for _, std in spread], marker="o", capsize=3)
    axis.set_xscale("log", base=2)
    axis.set_xticks(steps, [str(t) for t in steps])
    axis.set_xlabel("time steps T")
    axis.set_ylabel("dev weighted F1 (%)")
    if all(latency):
        twin = axis.twinx()
        twin.plot(steps, [statistics.median(v) for v in latency], color="tab:orange", marker="s", linestyle="--")
        twin.set_ylabel("forward latency, 20-turn dialogue (ms)", color="tab:orange")
    axis.set_title("SpikEmo: T sweep (mean ± std over seeds)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def t_sweep_trend(records: list[dict]) -> str:
    """The paper's claim for Figure 4 is a trend with T, which the seed spread of each point hides: each T's dev
    weighted F1 minus the smallest T's, paired by seed, as a table (empty with fewer than two T)."""
    steps = sorted({int(r["name"][1:]) for r in records})
    if len(steps) < 2:
        return ""
    seeds = {(r["name"], r["seed"]) for r in records}
    lines = [f"| T | seeds paired | change from T={steps[0]} (points) |", "|---|---|---|"]
    for t in steps[1:]:
        paired = sum((f"T{steps[0]}", s) in seeds for n, s in seeds if n == f"T{t}")
        lines.append(f"| {t} | {paired} | {paired_gain(records, f'T{t}', f'T{steps[0]}')} |")
    return "\n".join(lines)


def load_records(results_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results_dir / "runs").glob("*.json"))]


def check_same_source(records: list[dict], source: str, results_dir: Path) -> None:
    """Resuming mixes runs into one table, so every run already in results_dir must come from `source`."""
    others = sorted({r["source"] for r in records} - {source})
    if others:
        raise InputError(f"{results_dir} holds runs made from {others[0]}, and this command uses {source}; "
                         "give this data source its own --results-dir")


def dswa_effect_table(full_runs: list[dict]) -> str:
    """Per seed of the full configuration: what skipping DSWA and silencing its spikes change on dev, and what
    the weights follow (spikemo.training.dswa_ablation)."""
    lines = ["| seed | dev weighted F1 | spikes silenced | changed without DSWA | changed, spikes silenced | "
             "weight-feature correlation: all / multi-turn / within dialogues | weight change T=2 vs T |",
             "|---|---|---|---|---|---|---|"]
    for record in sorted(full_runs, key=lambda r: r["seed"]):
        if "dswa_effect" not in record:
            continue
        effect = record["dswa_effect"]
        within = effect.get("weight_feature_correlation_within_dialogue")
        within = f"{within:.3f}" if within is not None else "not measured"
        lines.append(f"| {record['seed']} | {record['dev']['weighted_f1']:.2f} | "
                     f"{record['dev_spikes_silenced']['weighted_f1']:.2f} | {effect['changed_without_dswa']} | "
                     f"{effect['changed_with_spikes_silenced']} | {effect['weight_feature_correlation']:.3f} / "
                     f"{effect['weight_feature_correlation_multi_turn']:.3f} / {within} | "
                     f"{effect['weight_change_T2']:.5f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def write_reports(results_dir: Path, requested: Sequence[str], specs: list[RunSpec], inert: dict[str, str],
                  dataset: Dataset) -> None:
    """Rebuild every markdown table and the plot from the run JSONs in results_dir/runs."""
    records = load_records(results_dir)
    if "variants" in requested:
        write_variants_report(results_dir, [r for r in records if r["experiment"] == "variants"], dataset)
    trained = {e: [r for r in records if r["experiment"] == e] for e in ("table4", "figure4", "table5")}
    full_runs = [r for r in trained["table4"] if r["name"] == "full"]
    # A T sweep run without table4 trains the preset's T itself; where table4's full run of that seed exists,
    # it is the same configuration, so it is counted once.
    full_seeds = {r["seed"] for r in full_runs}
    full_time_steps = {r["model"]["time_steps"] for r in full_runs}
    trained["figure4"] = [r for r in trained["figure4"]
                          if not (r["seed"] in full_seeds and r["model"]["time_steps"] in full_time_steps)]
    by_experiment = {
        "table4": trained["table4"] + [{**r, "name": "spikes_silenced", "dev": r["dev_spikes_silenced"]}
                                       for r in full_runs if "dev_spikes_silenced" in r],
        "figure4": trained["figure4"] + [{**r, "name": f"T{r['model']['time_steps']}"} for r in full_runs],
        "table5": trained["table5"] + [{**r, "name": "+".join(r["model"]["modalities"])} for r in full_runs],
    }
    row_names = {
        "table4": list(TABLE4_ROWS),
        "figure4": sorted({r["name"] for r in by_experiment["figure4"]} | {s.name for s in specs if s.experiment ==
                          "figure4"}, key=lambda n: int(n[1:])),
        "table5": ["+".join(subset) for subset in _subsets(MODALITIES)],
    }
    iemocap = dataset.dataset == "iemocap"
    papers = {"table4": PAPER_IEMOCAP_TABLE4 if iemocap else PAPER_TABLE4, "figure4": {},
              "table5": _paper_table5(PAPER_IEMOCAP_TABLE5 if iemocap else PAPER_TABLE5)}
    for experiment, paper in papers.items():
        if experiment not in requested:
            continue
        names = row_names[experiment]
        runs = trained[experiment] + (full_runs if experiment != "table4" else [])
        hours = sum(e["seconds"] for r in runs for e in r["history"]) / 3600
        sections = [f"# {experiment}\n\nData: {dataset.source}. DSWA variant: {_variants(runs)}. Made by "
                    f"`{_command(results_dir, experiment, runs, dataset)}`. Mean ± std over "
                    "seeds; each run selected on dev. Latency: median over the runs of one forward pass on a "
                    "20-utterance dialogue, timed at the end of each run on the machine that trained it (other jobs "
                    f"may have shared its cores). Training time of these {len(runs)} runs: {hours:.1f} h (sum of "
                    "their epoch times).\n"]
        for split in ("dev", "test"):
            if split == "dev" or any(split in r for r in by_experiment[experiment]):
                sections.append(markdown_table(by_experiment[experiment], names, paper, _inert_or_missing(
                    experiment, names, inert, dataset.modalities), split, dataset.dataset))
        if experiment == "figure4" and (trend := t_sweep_trend(by_experiment["figure4"])):
            sections.append("Each T against the smallest, paired by seed (dev weighted F1; mean ± std of the "
                            "differences):\n\n" + trend)
        if experiment == "table4" and (effects := dswa_effect_table(full_runs)):
            sections.append("What DSWA and its spikes change in each full run, on dev "
                            "(`spikemo.training.dswa_ablation.dswa_effect`):\n\n" + effects)
        (results_dir / f"{experiment}.md").write_text("\n\n".join(sections) + "\n")
    if "figure4" in requested:  # otherwise it would plot the full runs' T alone
        figure4_plot(by_experiment["figure4"], results_dir / "figure4.png")


def paired_gain(records: list[dict], name: str, baseline: str = "no_dswa") -> str:
    """Dev weighted F1 of `name` minus `baseline`'s, per seed both ran, as mean ± std (points)."""
    by_seed = {(r["name"], r["seed"]): r["dev"]["weighted_f1"] for r in records}
    gains = [by_seed[(name, s)] - by_seed[(baseline, s)] for n, s in by_seed if n == name and (baseline, s) in by_seed]
    return mean_std(gains)


def variants_effect_table(records: list[dict]) -> str:
    """Per DSWA run: what skipping DSWA, silencing its spikes and shuffling the turns change on dev."""
    lines = ["| configuration | seed | dev weighted F1 | changed without DSWA | changed, spikes silenced | "
             "changed, turns shuffled | F1 drop, turns shuffled | weight-feature correlation within dialogues |",
             "|---|---|---|---|---|---|---|---|"]
    for record in sorted(records, key=lambda r: (list(VARIANT_ROWS).index(r["name"]), r["seed"])):
        effect = record.get("dswa_effect")
        if effect is None or "changed_with_order_shuffled" not in effect:
            continue
        lines.append(f"| {record['name']} | {record['seed']} | {record['dev']['weighted_f1']:.2f} | "
                     f"{effect['changed_without_dswa']} | {effect['changed_with_spikes_silenced']} | "
                     f"{effect['changed_with_order_shuffled']} | {effect['order_shuffle_f1_drop']:.2f} | "
                     f"{effect['weight_feature_correlation_within_dialogue']:.3f} |")
    return "\n".join(lines)


def write_variants_report(results_dir: Path, records: list[dict], dataset: Dataset) -> None:
    """variants.md: the variants' dev scores, their gain over the no-DSWA baseline paired by seed, and what their
    spikes and the turn order decide, rebuilt from the run JSONs."""
    names = list(VARIANT_ROWS)
    gains = "\n".join(f"- {name}: {paired_gain(records, name)} points over no_dswa (paired by seed)"
                       for name in names[1:] if any(r["name"] == name for r in records))
    hours = sum(e["seconds"] for r in records for e in r["history"]) / 3600
    alone = " --text-context none" if dataset.source.endswith(CONTEXT_FREE_NOTE) else ""
    sections = [f"# DSWA variants\n\nData: {dataset.source}. Made by `python -m train.experiments --experiments "
                f"variants{alone}`; every run selected on dev; {len(records)} runs, {hours:.1f} h of training (sum of "
                "epoch times). Rows: spikemo.model.dswa (reference, residual: T simulated steps over fixed features) "
                "and spikemo.model.conversation_dswa (conversation: neurons that read the dialogue turn by turn; "
                "as a weight, as added features, and its spike-free control).\n",
                markdown_table(records, names, {}, {}, "dev", dataset.dataset),
                "Gain over the retrained model without DSWA:\n\n" + (gains or "none yet"),
                "What each run's DSWA, its spikes and the turn order decide on dev "
                "(`spikemo.training.dswa_ablation.dswa_effect`):\n\n" + variants_effect_table(records)]
    (results_dir / "variants.md").write_text("\n\n".join(sections) + "\n")


def _command(results_dir: Path, experiment: str, runs: list[dict], dataset: Dataset) -> str:
    """The command that makes (and resumes) `experiment`'s runs in `results_dir`."""
    seeds = " ".join(str(seed) for seed in sorted({r["seed"] for r in runs}))
    alone = " --text-context none" if dataset.source.endswith(CONTEXT_FREE_NOTE) else ""
    return (f"python -m train.experiments --dswa-variant {_variants(runs)} --experiments {experiment} --seeds {seeds}"
            f"{alone} --results-dir {repo_relative(results_dir)}")


def _variants(records: list[dict]) -> str:
    """The DSWA variants of `records` (runs made before the variants existed were "residual")."""
    return ", ".join(sorted({r["model"].get("dswa_variant", "residual") for r in records})) or "–"


def _paper_table5(paper: dict[tuple[str, ...], float]) -> dict[str, float]:
    return {"+".join(k): v for k, v in paper.items()}


def _inert_or_missing(experiment: str, names: list[str], inert: dict[str, str], modalities: Sequence[str]) -> dict:
    marks = {n: inert[n] for n in names if n in inert}
    if experiment == "table5":
        command = ("python -m train.extract_features --clips CLIPS --csv CSV --store STORE, once per split, then "
                   "python -m train.experiments --train-store TRAIN_STORE --dev-store DEV_STORE")
        for name in names:
            if any(m not in modalities for m in name.split("+")):
                marks[name] = f"needs MELD's clips: `{command}`"
    return marks


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m train.experiments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-store", type=Path, help="feature store of the train clips (train.extract_features)")
    parser.add_argument("--dev-store", type=Path, help="feature store of the dev clips")
    parser.add_argument("--test-store", type=Path, help="feature store of the test clips (reported, never selected on)")
    parser.add_argument("--multiemo", type=Path, help="MultiEMO-format feature pickle (only from a trusted source)")
    parser.add_argument("--dataset", choices=["meld", "iemocap"], default="meld",
                        help="--multiemo only: whose file it is (labels, preset and the paper's numbers follow)")
    parser.add_argument("--dswa-variant", choices=DSWA_VARIANTS, default="reference",
                        help="DSWA's structure (spikemo.model.dswa); each variant gets its own results folder")
    parser.add_argument("--text-encoder", type=Path, default=DEFAULT_CHECKPOINT / "text_encoder",
                        help="text-only runs: the fine-tuned encoder that makes the features")
    parser.add_argument("--text-context", choices=["shipped", "none"], default="shipped",
                        help="text-only runs: read each turn with the encoder's own context, or alone (none)")
    parser.add_argument("--train-csv", type=Path, default=DEFAULT_DATA_DIR / "train_sent_emo.csv")
    parser.add_argument("--dev-csv", type=Path, default=DEFAULT_DATA_DIR / "dev_sent_emo.csv")
    parser.add_argument("--test-csv", type=Path, help="also report this split (never used for selection)")
    parser.add_argument("--experiments", nargs="+", default=["table4", "figure4", "table5"],
                        choices=["table4", "figure4", "table5", "variants"],
                        help="variants: every DSWA variant and controls beside a baseline without DSWA, paired by "
                             "seed (its own results folder, train/results/dswa-variants by default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--time-steps", type=int, nargs="+", default=list(TIME_STEPS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patience", type=int, default=3,
                        help="stop a run after this many epochs without a better dev score")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--results-dir", type=Path,
                        help="where the runs and tables go (default: train/results/dswa-<variant>)")
    parser.add_argument("--models-dir", type=Path, help="also save every trained model under DIR/<run id>")
    parser.add_argument("--quick", action="store_true", help="tiny subset and model, to check the loop")
    parser.add_argument("--reports-only", action="store_true",
                        help="only rebuild the tables and the plot from the run JSONs already in the results folder")
    args = parser.parse_args(argv)
    if (args.train_store is None) != (args.dev_store is None) or (args.test_store and not args.train_store):
        parser.error("feature stores come as --train-store and --dev-store (and optionally --test-store)")
    if args.train_store and args.multiemo:
        parser.error("use feature stores or --multiemo, not both")
    if args.test_store and not args.test_csv:
        parser.error("--test-store needs the test split's --test-csv")
    if args.dataset != "meld" and not args.multiemo:
        parser.error("--dataset iemocap needs IEMOCAP's features: --multiemo FILE.pkl")
    if "variants" in args.experiments and len(args.experiments) > 1:
        parser.error("--experiments variants runs alone (its runs set the variant themselves)")
    default_dir = "dswa-variants" if args.experiments == ["variants"] else f"dswa-{args.dswa_variant}"
    if args.text_context == "none":
        default_dir += "-context-free"
    args.results_dir = args.results_dir or RESULTS_DIR / default_dir
    return args


def rewrite_reports(args: argparse.Namespace) -> None:
    """Rebuild the tables of args.results_dir from its run JSONs alone: no features, no training."""
    records = load_records(args.results_dir)
    if not records:
        raise InputError(f"{args.results_dir} holds no runs to report")
    modalities = tuple(max((r["model"]["modalities"] for r in records), key=len))
    dataset = Dataset([], [], None, modalities, records[0]["source"], args.dataset)
    specs = table4_specs(args.seeds) + figure4_specs(args.seeds, args.time_steps)
    specs += table5_specs(args.seeds, modalities)
    inert = {s.name: reason for s in specs if (reason := inert_reason(s, modalities))}
    write_reports(args.results_dir, args.experiments, specs, inert, dataset)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.reports_only:
        rewrite_reports(args)
        return []
    if args.train_store:
        stores = {"train": args.train_store, "dev": args.dev_store}
        if args.test_store:
            stores["test"] = args.test_store
        dataset = store_dataset(stores, {"train": args.train_csv, "dev": args.dev_csv, "test": args.test_csv})
    elif args.multiemo:
        dataset = multiemo_dataset(args.multiemo, args.dataset)
    else:
        dataset = text_dataset(args.text_encoder, args.train_csv, args.dev_csv, args.test_csv, args.quick,
                               args.text_context)
    configs = base_configs(dataset, args.epochs, args.batch_size, args.quick, args.dswa_variant)
    specs = variant_specs(args.seeds) if "variants" in args.experiments else []
    if "table4" in args.experiments:
        specs += table4_specs(args.seeds)
    if "figure4" in args.experiments:
        # the preset's T is table4's "full" run: figure4 reuses it instead of training it twice
        shared = configs[0].time_steps if "table4" in args.experiments else None
        specs += figure4_specs(args.seeds, [t for t in args.time_steps if t != shared])
    if "table5" in args.experiments:
        # the subset of every modality at hand is table4's "full" run too
        shared = "+".join(dataset.modalities) if "table4" in args.experiments else None
        specs += [s for s in table5_specs(args.seeds, dataset.modalities) if s.name != shared]
    specs.sort(key=lambda s: s.seed)  # every configuration once before any is repeated: early tables are whole
    inert = {s.name: reason for s in specs if (reason := inert_reason(s, dataset.modalities))}
    runs_dir = args.results_dir / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    done = []
    check_same_source(load_records(args.results_dir), dataset.source, args.results_dir)
    for spec in specs:
        path = runs_dir / f"{spec.run_id}.json"
        if spec.name in inert or path.exists():
            continue
        print(f"running {spec.run_id}", flush=True)
        record = run_one(spec, dataset, configs, args.patience, args.models_dir)
        path.write_text(json.dumps(record, indent=1) + "\n")
        done.append(record)
        write_reports(args.results_dir, args.experiments, specs, inert, dataset)
    write_reports(args.results_dir, args.experiments, specs, inert, dataset)
    return done


if __name__ == "__main__":
    sys.exit(run_command(main))
