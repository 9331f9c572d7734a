"""What the app's buttons do: plain functions over library calls, tested without a browser.

`SpikEmoApp` owns the long-lived parts (the Analyzer, the scored-CSV cache, the temporary folder for
downloads) and exposes one method per UI event. Methods return tuples in the order ui.py lists the outputs;
bad input raises `gr.Error` with a message meant for the user, and the app keeps serving.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spikemo.data.conversation import Conversation
from spikemo.errors import SpikEmoError
from spikemo.integrity import sha256_of
from spikemo.paths import DEFAULT_CHECKPOINT, REPO_ROOT
from spikemo.runtime import pick_device
from spikemo.training.dswa_ablation import predict_without_dswa
from spikemo.training.evaluate import score_csv
from spikemo.video.analysis import Analysis
from spikemo.video.analyzer import Analyzer, PipelineConfig
from spikemo.video.media import MediaConfig
from spikemo.viz import plots
from spikemo.viz.lif_teaching import (
    INPUT_SHAPES,
    SWEEP_TIME_STEPS,
    LIFDemoConfig,
    TimeStepSweep,
    dswa_weights_by_time_steps,
    simulate_lif,
)

logger = logging.getLogger(__name__)

try:  # ZeroGPU on Hugging Face Spaces: GPU work must run inside functions decorated with spaces.GPU.
    import spaces

    ZERO_GPU = True
    gpu_task: Callable = spaces.GPU(duration=120)
except ImportError:
    ZERO_GPU = False

    def gpu_task(function: Callable) -> Callable:
        return function


TRANSCRIPT_SUFFIXES = (".srt", ".vtt", ".csv")
SPEECH_MODELS = ("tiny.en", "base")
SORT_ORDERS = ("turn order", "most confident first", "least confident first", "turns DSWA decides first")
MODALITY_NAMES = {"text": "text (the words)", "audio": "audio (the voice)", "visual": "visual (the face)"}


@dataclass
class AppConfig:
    """Where the app finds its checkpoint, data and examples, and the limits it serves under.

    checkpoint_dir: None means $SPIKEMO_CHECKPOINT, else the shipped checkpoint.
    data_dir: MELD-format CSVs offered in "Inspect errors" ($SPIKEMO_DATA_DIR, else data/meld).
    max_video_seconds / max_upload_mb: refuse longer or bigger uploads. concurrency_limit: analyses at once.
    downloads_max_age_s: download folders older than this are deleted when a new analysis writes one.
    """

    checkpoint_dir: Path | None = None
    data_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("SPIKEMO_DATA_DIR", REPO_ROOT / "data" / "meld"))
    )
    examples_dir: Path = REPO_ROOT / "assets" / "examples"
    device: str | None = None
    max_video_seconds: float = 300.0
    max_upload_mb: int = 200
    concurrency_limit: int = 1
    max_queue_size: int = 16
    scored_cache_size: int = 4
    downloads_max_age_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.checkpoint_dir is None:
            self.checkpoint_dir = Path(os.environ.get("SPIKEMO_CHECKPOINT", DEFAULT_CHECKPOINT))
        self.checkpoint_dir = Path(self.checkpoint_dir)
        self.data_dir, self.examples_dir = Path(self.data_dir), Path(self.examples_dir)


@dataclass(frozen=True)
class Example:
    """A bundled example: its video, its transcript if it ships one, and the script it was made from."""

    name: str
    video: Path
    transcript: Path | None
    script: dict | None


def find_examples(folder: Path) -> list[Example]:
    """The *.mp4 files of `folder` with their .srt transcript and .script.json, sorted by name."""
    examples = []
    for video in sorted(folder.glob("*.mp4")):
        transcript = video.with_suffix(".srt")
        script = video.with_name(video.stem + ".script.json")
        examples.append(Example(
            video.stem, video, transcript if transcript.is_file() else None,
            json.loads(script.read_text(encoding="utf-8")) if script.is_file() else None,
        ))
    return examples


@contextmanager
def user_errors(action: str) -> Iterator[None]:
    """Turn library errors into gr.Error (shown to the user); anything unexpected is logged and reported."""
    try:
        yield
    except gr.Error:
        raise
    except SpikEmoError as error:
        raise gr.Error(str(error), title=f"Could not {action}") from error
    except Exception as error:
        logger.exception("unexpected failure while trying to %s", action)
        raise gr.Error(f"Unexpected {type(error).__name__}: {error}", title=f"Could not {action}") from error


# ----------------------------------------------------------------------------------------------- presentation


def without_dswa_sentence(sweep: TimeStepSweep) -> str:
    """What the model predicts with DSWA skipped, against its predictions at the largest T."""
    differ = [(i, label) for i, (label, with_dswa) in enumerate(zip(sweep.without_dswa, sweep.predictions[-1]))
              if label != with_dswa]
    if not differ:
        return ("With the DSWA step skipped, every turn keeps its prediction: here DSWA shifts probabilities, "
                "not decisions.")
    turns = ", ".join(f"turn {i + 1} would be {label}" for i, label in differ)
    return f"With the DSWA step skipped, {turns}: DSWA decides those."


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def modality_statement(trained: tuple[str, ...], used: tuple[str, ...] | None = None) -> str:
    """Plain words on which modalities the checkpoint's prediction rests on, and which are only cues."""
    cues = [m for m in ("audio", "visual") if m not in trained]
    text = f"**The loaded checkpoint was trained on {' + '.join(MODALITY_NAMES[m] for m in trained)}.**"
    if used is not None and tuple(used) != tuple(trained):
        missing = [m for m in trained if m not in used]
        text += f" This video lacked {', '.join(missing)}, so the prediction used {' + '.join(used)}."
    if cues:
        named = " and ".join({"audio": "voice", "visual": "face"}[m] for m in cues)
        text += (f" The {named} {'is' if len(cues) == 1 else 'are'} extracted and shown beside the prediction "
                 "as a cue only: the model never saw it, so disagreement there is information, not an error.")
    return text


def checkpoint_summary(directory: Path) -> str:
    """A short description of the checkpoint folder from its config.json, or why none is loaded."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        return (f"**No checkpoint found at `{directory}`.** Analysis and error inspection need one: set "
                "`SPIKEMO_CHECKPOINT` to a checkpoint folder (or pass `--checkpoint` to app.py). "
                "The LIF neuron demo works without it.")
    try:
        metadata = json.loads(config_path.read_text(encoding="utf-8"))
        trained = tuple(metadata["model"]["modalities"])
    except (json.JSONDecodeError, KeyError, TypeError):
        return f"**The checkpoint at `{directory}` has an unreadable config.json.**"
    lines = [f"Checkpoint: `{directory.name}`. " + modality_statement(trained)]
    dev = metadata.get("dev_weighted_f1") or metadata.get("metrics", {}).get("dev", {}).get("weighted_f1")
    if isinstance(dev, (int, float)):
        lines.append(f"Dev weighted F1 recorded in its metadata: {dev:.2f}.")
    return " ".join(lines)


def voice_descriptions(analysis: Analysis) -> list[str]:
    """Per utterance, how its voice compares with the same speaker's other turns (a heuristic cue).

    Loudness and pitch more than one standard deviation above/below the speaker's mean read as
    "louder"/"quieter" and "higher"/"lower"; otherwise "typical". A single turn has nothing to compare with.
    """
    utterances = analysis.conversation.utterances
    by_speaker: dict[str, list[int]] = {}
    for i, u in enumerate(utterances):
        by_speaker.setdefault(u.speaker, []).append(i)
    words = [""] * len(utterances)
    for indices in by_speaker.values():
        for i in indices:
            parts = []
            for cue, high, low in (("loudness", "louder", "quieter"), ("pitch_mean_hz", "higher pitch", "lower pitch")):
                values = np.array([analysis.cues[j].voice.get(cue, 0.0) for j in indices], dtype=float)
                spread = values.std()
                if len(indices) < 2 or spread == 0:
                    continue
                z = (analysis.cues[i].voice.get(cue, 0.0) - values.mean()) / spread
                if z > 1:
                    parts.append(high)
                elif z < -1:
                    parts.append(low)
            words[i] = ", ".join(parts) or ("typical" if len(indices) > 1 else "")
    return words


def turn_table(analysis: Analysis) -> pd.DataFrame:
    """One row per turn: #, time, speaker, text, emotion, confidence, face (cue), face agrees, voice (cue)."""
    voices = voice_descriptions(analysis)
    rows = []
    for i, (u, cues) in enumerate(zip(analysis.conversation.utterances, analysis.cues)):
        p = u.prediction
        face = f"{cues.face_expression} ({cues.face_expression_prob:.2f})" if cues.face_expression else "no face"
        agrees = "" if not cues.face_expression else ("yes" if cues.face_expression == p.emotion else "NO")
        rows.append({
            "#": i + 1, "time": f"{format_time(u.start)}-{format_time(u.end)}", "speaker": u.speaker,
            "text": u.text, "emotion": p.emotion, "confidence": round(p.probabilities[p.emotion], 3),
            "face": face, "face agrees": agrees, "voice": voices[i],
        })
    return pd.DataFrame(rows, columns=["#", "time", "speaker", "text", "emotion", "confidence", "face",
                                       "face agrees", "voice"])


def turn_details(analysis: Analysis, index: int) -> str:
    """Markdown for one turn: text, prediction, DSWA weights, and the face and voice cues beside it."""
    u = analysis.conversation.utterances[index]
    cues = analysis.cues[index]
    p = u.prediction
    top = sorted(p.probabilities.items(), key=lambda item: -item[1])[:3]
    length = len(analysis.conversation.utterances)
    lines = [
        f"### Turn {index + 1} of {length}: {u.speaker or 'unknown speaker'}, "
        f"{format_time(u.start)}-{format_time(u.end)}",
        f"> {u.text}",
        f"**Model ({' + '.join(analysis.modalities_used)}): {p.emotion}** "
        + ", ".join(f"{label} {prob:.2f}" for label, prob in top),
    ]
    if p.dswa_weights:
        lines.append("DSWA weight (x turns; 1 = an average turn): "
                     + ", ".join(f"{m} {w * length:.2f}" for m, w in p.dswa_weights.items()))
    if cues.face_expression:
        verdict = "agrees with" if cues.face_expression == p.emotion else "**disagrees** with"
        lines.append(f"**Face cue: {cues.face_expression}** ({cues.face_expression_prob:.2f}, a face in "
                     f"{cues.face_presence:.0%} of sampled frames): {verdict} the model.")
    else:
        lines.append("**Face cue:** no face was found in this turn's frames.")
    voice = cues.voice
    if voice:
        lines.append(
            f"**Voice cue:** loudness {voice.get('loudness', 0):.2f}, pitch {voice.get('pitch_mean_hz', 0):.0f} Hz, "
            f"{voice.get('syllable_rate_per_s', 0):.1f} syllables/s, voiced {voice.get('voiced_fraction', 0):.0%}."
        )
    return "\n\n".join(lines)


def spike_figures(analysis: Analysis, index: int, layer: str | None) -> tuple[Figure, Figure]:
    """Spike raster [T x neurons] of one turn in one layer, and the spike-rate curves of all layers."""
    rates = analysis.conversation.utterances[index].prediction.spike_rates
    if not analysis.spikes:
        empty = plots.plot_spike_rates({})
        return empty, empty
    layer = layer if layer in analysis.spikes else next(iter(analysis.spikes))
    raster = plots.plot_spike_raster(analysis.spikes[layer][index], title=f"{layer}, turn {index + 1}")
    return raster, plots.plot_spike_rates(rates, highlight=layer)


# ------------------------------------------------------------------------------------------------ inspect errors


@dataclass
class ScoredFile:
    """A MELD-format CSV scored by one checkpoint: conversations with predictions, and the metrics."""

    name: str
    conversations: list[Conversation]
    metrics: dict
    labels: tuple[str, ...]
    seconds: float
    without_dswa: dict[str, list[str]] = field(default_factory=dict)  # dialogue id -> label per turn

    def conversation(self, dialogue_id: str) -> Conversation:
        for c in self.conversations:
            if c.conversation_id == dialogue_id:
                return c
        raise gr.Error(f"Dialogue {dialogue_id} is not in {self.name}.")


def dialogue_choices(scored: ScoredFile) -> list[tuple[str, str]]:
    """(label, dialogue id) per dialogue, the label counting its errors, e.g. "12: 3 errors in 9 turns"."""
    choices = []
    for c in scored.conversations:
        errors = sum(u.emotion is not None and u.prediction.emotion != u.emotion for u in c.utterances)
        choices.append((f"{c.conversation_id}: {errors} error{'s' if errors != 1 else ''} in {len(c)} turns",
                        c.conversation_id))
    return choices


def error_rows(conversations: list[Conversation], errors_only: bool, sort: str,
               without_dswa: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Gold vs predicted per turn, filtered and sorted as asked; with `without_dswa` (dialogue id -> label per
    turn) also what the model predicts with its DSWA step skipped."""
    rows = []
    for c in conversations:
        for i, u in enumerate(c.utterances):
            p = u.prediction
            correct = None if u.emotion is None else u.emotion == p.emotion
            if errors_only and correct is not False:
                continue
            rows.append({"dialogue": c.conversation_id, "turn": i + 1, "speaker": u.speaker, "text": u.text,
                         "gold": u.emotion or "", "predicted": p.emotion,
                         "without DSWA": without_dswa[c.conversation_id][i] if without_dswa else "",
                         "confidence": round(p.probabilities[p.emotion], 3),
                         "correct": "" if correct is None else ("yes" if correct else "NO")})
    columns = ["dialogue", "turn", "gold", "predicted", "confidence", "correct", "speaker", "text"]
    if without_dswa:
        columns.insert(4, "without DSWA")
    table = pd.DataFrame(rows, columns=columns)
    if sort == SORT_ORDERS[1]:
        table = table.sort_values("confidence", ascending=False, kind="stable")
    elif sort == SORT_ORDERS[2]:
        table = table.sort_values("confidence", ascending=True, kind="stable")
    elif sort == SORT_ORDERS[3] and without_dswa:
        decided = table["predicted"] != table["without DSWA"]
        table = table.loc[decided.sort_values(ascending=False, kind="stable").index]
    return table.reset_index(drop=True)


def highlight_errors(table: pd.DataFrame):
    """A pandas Styler that shades the rows whose prediction is wrong."""
    def shade(row: pd.Series) -> list[str]:
        return ["background-color: #fde2e1" if row["correct"] == "NO" else ""] * len(row)

    return table.style.apply(shade, axis=1).format({"confidence": "{:.3f}"})


def scored_summary(scored: ScoredFile) -> str:
    m = scored.metrics
    used = m.get("modalities_used", ["text"])
    lines = [
        f"### {scored.name}: weighted F1 **{m['weighted_f1']:.2f}**, accuracy {m['accuracy']:.2f}",
        f"{m['n_utterances']} labelled utterances in {m['n_dialogues']} dialogues, scored in {scored.seconds:.1f} s.",
        f"**Text only:** a MELD-format CSV holds transcripts, not video clips, so the model saw "
        f"{' + '.join(used)} and nothing else." if tuple(used) == ("text",) else f"Modalities used: {', '.join(used)}.",
    ]
    if scored.without_dswa:
        changed = sum(u.prediction.emotion != label for c in scored.conversations
                      for u, label in zip(c.utterances, scored.without_dswa[c.conversation_id]))
        total = sum(len(c) for c in scored.conversations)
        lines.append(f"**What DSWA decides:** with its DSWA step skipped, the same model predicts another emotion for "
                     f"{changed} of {total} turns (column *without DSWA*).")
    return "\n\n".join(lines)


# ------------------------------------------------------------------------------------------- model work (GPU)
# Module-level functions with picklable arguments: ZeroGPU runs them in a worker process. The Analyzer of each
# (checkpoint, pipeline config, device) is loaded once per process and shared by all sessions.

_ANALYZERS: dict[tuple[str, str, str | None], Analyzer] = {}
_ANALYZERS_LOCK = threading.Lock()
# One analysis at a time per process: Whisper, openSMILE and the face detector are not shared across threads
# (the queue already runs one at a time; this also covers the start-up warm-up).
_ANALYSIS_LOCK = threading.Lock()


def get_analyzer(checkpoint_dir: Path, config: PipelineConfig, device: str | None) -> Analyzer:
    key = (str(Path(checkpoint_dir).resolve()), repr(config), device)
    with _ANALYZERS_LOCK:
        if key not in _ANALYZERS:
            _ANALYZERS[key] = Analyzer(checkpoint_dir, config, device)
        return _ANALYZERS[key]


@gpu_task
def run_analysis(checkpoint_dir: Path, config: PipelineConfig, device: str | None, video: str,
                 transcript: str | None, num_speakers: int | None, speech_model: str,
                 progress: Callable[[float, str], None] | None = None) -> Analysis:
    analyzer = get_analyzer(checkpoint_dir, config, device)
    with _ANALYSIS_LOCK:
        return analyzer.analyze(video, transcript, num_speakers, speech_model, progress=progress)


@gpu_task
def run_score(checkpoint_dir: Path, config: PipelineConfig, device: str | None,
              csv_path: Path) -> tuple[list[Conversation], dict, tuple[str, ...], dict[str, list[str]]]:
    """The scored conversations, their metrics, the labels, and each dialogue's labels with DSWA skipped."""
    checkpoint = get_analyzer(checkpoint_dir, config, device).checkpoint
    torch_device = pick_device(device)
    conversations, metrics = score_csv(csv_path, checkpoint, torch_device, progress=True)
    without_dswa = {}
    if checkpoint.config.use_dswa:
        for conversation, predictions in zip(conversations, predict_without_dswa(checkpoint.model, conversations,
                                                                                 torch_device)):
            without_dswa[conversation.conversation_id] = [p.emotion for p in predictions]
    return conversations, metrics, tuple(checkpoint.config.labels), without_dswa


@gpu_task
def run_sweep(checkpoint_dir: Path, config: PipelineConfig, device: str | None,
              conversation: Conversation) -> TimeStepSweep:
    model = get_analyzer(checkpoint_dir, config, device).checkpoint.model
    return dswa_weights_by_time_steps(model, conversation, SWEEP_TIME_STEPS, next(model.parameters()).device)


# ------------------------------------------------------------------------------------------------------ the app


class AnalysisResult(NamedTuple):
    analysis: Analysis
    status: str
    table: pd.DataFrame
    timeline: Figure
    probabilities: Figure
    heatmap: Figure
    cues: Figure
    turn: dict
    layer: dict
    downloads: list[str]


class TurnView(NamedTuple):
    details: str
    probabilities: Figure
    raster: Figure
    rates: Figure
    heatmap: Figure


class ScoreResult(NamedTuple):
    key: str
    summary: str
    per_class: Figure
    confusion: Figure
    dialogues: dict


class DialogueView(NamedTuple):
    table: object  # a pandas Styler over error_rows
    strips: Figure
    heatmap: Figure
    probabilities: Figure


class SpikEmoApp:
    """The app's state and event handlers (one instance per running app, shared by all sessions)."""

    def __init__(self, config: AppConfig | None = None) -> None:
        self.config = config or AppConfig()
        self.examples = find_examples(self.config.examples_dir)
        self._scored: OrderedDict[str, ScoredFile] = OrderedDict()
        self._scored_lock = threading.Lock()
        self._example_analyses: dict[str, Analysis] = {}
        self.temp_dir = Path(tempfile.mkdtemp(prefix="spikemo-app-"))
        atexit.register(shutil.rmtree, self.temp_dir, ignore_errors=True)

    # -- shared parts

    def pipeline_config(self) -> PipelineConfig:
        return PipelineConfig(media=replace(MediaConfig(), max_duration_s=self.config.max_video_seconds,
                                            max_file_bytes=self.config.max_upload_mb * 1024**2))

    def model_args(self) -> tuple[Path, PipelineConfig, str | None]:
        """(checkpoint folder, pipeline config, device): what the model-work functions are given."""
        return self.config.checkpoint_dir, self.pipeline_config(), self.config.device

    def analyzer(self) -> Analyzer:
        """The Analyzer, loaded on first use; CheckpointError when the checkpoint is missing."""
        return get_analyzer(*self.model_args())

    def warm_up(self) -> None:
        """Run at start-up in a background thread: load the Analyzer, then analyse the first bundled example
        (its first call pays each model's one-off set-up; the result serves the Learn tab's sweep)."""
        try:
            self.analyzer()
            if self.examples:
                self.example_analysis(self.examples[0])
        except SpikEmoError as error:
            logger.warning("the app starts without a model: %s", error)

    def example_analysis(self, example: Example, progress: Callable[[float, str], None] | None = None) -> Analysis:
        """The analysis of a bundled example, computed once per process."""
        if example.name not in self._example_analyses:
            transcript = str(example.transcript) if example.transcript else None
            self._example_analyses[example.name] = run_analysis(
                *self.model_args(), str(example.video), transcript, None, SPEECH_MODELS[0], progress)
        return self._example_analyses[example.name]

    def status_markdown(self) -> str:
        return checkpoint_summary(self.config.checkpoint_dir)

    def _download_folder(self, stem: str) -> Path:
        """A fresh folder for one analysis's downloads; folders older than downloads_max_age_s are removed."""
        now = time.time()
        for old in self.temp_dir.iterdir():
            if now - old.stat().st_mtime > self.config.downloads_max_age_s:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=self.temp_dir))

    # -- tab 1: analyse

    def analyse(self, video: str | None, transcript: str | None, num_speakers: float | None,
                speech_model: str, progress: gr.Progress = gr.Progress()) -> AnalysisResult:
        """Run the pipeline on an uploaded video (+ optional transcript); every result view of the first turn."""
        if not video:
            raise gr.Error("Upload a video or pick one of the examples first.", title="No video")
        if transcript and Path(transcript).suffix.lower() not in TRANSCRIPT_SUFFIXES:
            raise gr.Error(f"The transcript must be an SRT, WebVTT or MELD CSV file (.srt, .vtt, .csv); got "
                           f"'{Path(transcript).name}'.", title="Unsupported transcript")
        if speech_model not in SPEECH_MODELS:
            raise gr.Error(f"Pick a speech model among {', '.join(SPEECH_MODELS)}.", title="Unknown speech model")
        speakers = int(num_speakers) if num_speakers else None
        with user_errors("analyse the video"):
            progress(0.0, desc="loading the models")
            report = None if ZERO_GPU else (lambda fraction, stage: progress(fraction, desc=stage))
            analysis = run_analysis(*self.model_args(), video, transcript, speakers, speech_model, report)
        if not analysis.conversation.utterances:
            raise gr.Error("No speech was found in this video, so there are no turns to analyse.", title="No speech")
        for warning in analysis.warnings:
            gr.Warning(warning)
        return self.present(analysis)

    def present(self, analysis: Analysis) -> AnalysisResult:
        """Every view of a finished analysis (the first turn selected), and its JSON and CSV downloads."""
        folder = self._download_folder(Path(analysis.video_name).stem)
        downloads = []
        for suffix in (".json", ".csv"):
            path = folder / f"{Path(analysis.video_name).stem}-spikemo{suffix}"
            analysis.write(path)
            downloads.append(str(path))
        conversation = analysis.conversation
        layers = list(analysis.spikes)
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in analysis.timings.items() if v >= 0.05 and k != "total")
        status = "\n\n".join([
            f"**{analysis.video_name}**: {len(conversation)} turns, {len(plots.speakers_in_order(conversation))} "
            f"speakers, analysed in {analysis.timings.get('total', 0):.1f} s ({timings}).",
            modality_statement(analysis.modalities_trained, analysis.modalities_used),
            *(f"Note: {w}" for w in analysis.warnings if not w.startswith("the checkpoint was trained on")),
        ])
        face = [c.face_expression for c in analysis.cues]
        return AnalysisResult(
            analysis=analysis,
            status=status,
            table=turn_table(analysis),
            timeline=plots.plot_emotion_timeline(conversation, analysis.duration, analysis.labels),
            probabilities=plots.plot_turn_probabilities(conversation, analysis.labels),
            heatmap=plots.plot_dswa_heatmap(conversation, selected=0),
            cues=plots.plot_label_strips(
                {"model": [u.prediction.emotion for u in conversation.utterances], "face cue": face},
                analysis.labels, title="Model prediction vs. the face cue (hatched: they disagree)"),
            turn=gr.update(minimum=1, maximum=max(len(conversation), 1), value=1, step=1, interactive=True),
            layer=gr.update(choices=layers, value=layers[0] if layers else None),
            downloads=downloads,
        )

    def select_turn(self, analysis: Analysis | None, turn: float | None, layer: str | None) -> TurnView:
        """Details, probability bars, spike raster and rates of turn number `turn` (1-based)."""
        if analysis is None:
            raise gr.Error("Analyse a video first.", title="Nothing analysed yet")
        length = len(analysis.conversation.utterances)
        if turn is None or not 1 <= int(turn) <= length:
            raise gr.Error(f"Pick a turn between 1 and {length}.", title="No such turn")
        index = int(turn) - 1
        utterance = analysis.conversation.utterances[index]
        raster, rates = spike_figures(analysis, index, layer)
        return TurnView(
            details=turn_details(analysis, index),
            probabilities=plots.plot_probabilities(utterance.prediction.probabilities, title=f"Turn {index + 1}"),
            raster=raster,
            rates=rates,
            heatmap=plots.plot_dswa_heatmap(analysis.conversation, selected=index),
        )

    def select_row(self, analysis: Analysis | None, layer: str | None, event: gr.SelectData) -> tuple:
        """A click in the turn table: move the turn slider to that row and show its turn."""
        if analysis is None:
            raise gr.Error("Analyse a video first.", title="Nothing analysed yet")
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        return (int(row) + 1, *self.select_turn(analysis, int(row) + 1, layer))

    # -- tab 2: inspect errors

    def data_files(self) -> list[str]:
        """MELD-format CSVs in the configured data folder."""
        folder = self.config.data_dir
        return sorted(p.name for p in folder.glob("*.csv")) if folder.is_dir() else []

    def score(self, data_file: str | None, upload: str | None, progress: gr.Progress = gr.Progress(track_tqdm=True)
              ) -> ScoreResult:
        """Score a CSV (an upload wins over the data-folder choice); cached per (file content, checkpoint)."""
        if upload:
            path = Path(upload)
        elif data_file:
            path = self.config.data_dir / Path(data_file).name  # a bare name: no path outside the data folder
        else:
            raise gr.Error("Choose a CSV from the data folder or upload a MELD-format CSV.", title="No CSV")
        if path.suffix.lower() != ".csv":
            raise gr.Error(f"'{path.name}' is not a .csv file.", title="Not a CSV")
        if not path.is_file():
            raise gr.Error(f"'{path.name}' was not found.", title="No such file")
        with user_errors("score the CSV"):
            key = f"{sha256_of([path])}:{self.config.checkpoint_dir.resolve()}"
            scored = self._cached_score(key, path, progress)
        return ScoreResult(
            key=key,
            summary=scored_summary(scored),
            per_class=plots.plot_per_class_f1(scored.metrics["per_class_f1"], scored.metrics["weighted_f1"]),
            confusion=plots.plot_confusion(scored.metrics["confusion"], scored.labels),
            dialogues=gr.update(choices=dialogue_choices(scored), value=scored.conversations[0].conversation_id),
        )

    def _cached_score(self, key: str, path: Path, progress: gr.Progress) -> ScoredFile:
        with self._scored_lock:
            if key in self._scored:
                self._scored.move_to_end(key)
                return self._scored[key]
        progress(0.0, desc=f"scoring {path.name}")
        started = time.perf_counter()
        conversations, metrics, labels, without_dswa = run_score(*self.model_args(), path)
        scored = ScoredFile(path.name, conversations, metrics, labels, time.perf_counter() - started, without_dswa)
        with self._scored_lock:
            self._scored[key] = scored
            while len(self._scored) > self.config.scored_cache_size:
                self._scored.popitem(last=False)
        return scored

    def scored(self, key: str | None) -> ScoredFile:
        with self._scored_lock:
            if not key or key not in self._scored:
                raise gr.Error("Score a CSV first (the earlier result was dropped from the cache).",
                               title="Nothing scored")
            return self._scored[key]

    def show_dialogue(self, key: str | None, dialogue_id: str | None, errors_only: bool, sort: str) -> DialogueView:
        """One dialogue: gold vs predicted per turn (errors shaded), DSWA weights and probabilities."""
        scored = self.scored(key)
        if not dialogue_id:
            raise gr.Error("Pick a dialogue.", title="No dialogue")
        conversation = scored.conversation(str(dialogue_id))
        utterances = conversation.utterances
        strips = {"gold": [u.emotion for u in utterances], "predicted": [u.prediction.emotion for u in utterances]}
        if scored.without_dswa:
            strips["without DSWA"] = scored.without_dswa[conversation.conversation_id]
        return DialogueView(
            table=highlight_errors(error_rows([conversation], errors_only, sort, scored.without_dswa)),
            strips=plots.plot_label_strips(strips, scored.labels, title=f"Dialogue {conversation.conversation_id}: "
                                           "gold vs predicted (hatched: error)"),
            heatmap=plots.plot_dswa_heatmap(conversation),
            probabilities=plots.plot_turn_probabilities(conversation, scored.labels),
        )

    def file_errors(self, key: str | None, errors_only: bool, sort: str):
        """The whole file's turns (or only its errors), sorted as asked; the first 200 rows."""
        scored = self.scored(key)
        table = error_rows(scored.conversations, errors_only, sort, scored.without_dswa)
        return highlight_errors(table.head(200))

    # -- tab 3: learn

    @staticmethod
    def lif(current: float, tau: float, threshold: float, time_steps: float, shape: str) -> tuple[Figure, str]:
        """Simulate one LIF neuron with these settings: the figure and a one-paragraph reading of it."""
        if shape not in INPUT_SHAPES:
            raise gr.Error(f"Input shape must be one of {', '.join(INPUT_SHAPES)}.", title="Unknown input shape")
        with user_errors("simulate the neuron"):
            trace = simulate_lif(LIFDemoConfig(float(current), float(tau), float(threshold), int(time_steps), shape))
        steady = float(current) if shape == "constant" else None
        reading = (f"The neuron fired **{trace.spike_count} times in {trace.config.time_steps} steps** "
                   f"(rate {trace.firing_rate:.2f}). ")
        if steady is not None and steady < threshold:
            reading += (f"A constant input of {steady:g} can never lift the membrane above {steady:g} (it leaks "
                        f"towards the input), which is below the threshold {threshold:g}: the neuron stays silent, "
                        "and the surrogate gradient is what still tells training which way to move.")
        elif trace.spike_count:
            reading += ("Each spike resets the membrane to 0 and it charges again. A stronger input fires more often; "
                        "a larger tau makes the membrane move more slowly (it charges and leaks by 1/tau of the gap "
                        "each step), so it fires less often. The rate over T steps is the neuron's graded output.")
        return plots.plot_lif_trace(trace), reading

    def example_names(self) -> list[str]:
        return [e.name for e in self.examples]

    def trained_modalities(self) -> list[str]:
        """The checkpoint's modalities from its config.json (text when it cannot be read)."""
        try:
            config = json.loads((self.config.checkpoint_dir / "config.json").read_text(encoding="utf-8"))
            return list(config["model"]["modalities"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            return ["text"]

    def time_step_sweep(self, example_name: str | None, modality: str | None,
                        progress: gr.Progress = gr.Progress()) -> tuple[Figure, str]:
        """DSWA weights of a bundled example's turns at T = 2 ... 64, with the predictions at each T."""
        example = next((e for e in self.examples if e.name == example_name), None)
        if example is None:
            raise gr.Error("Pick one of the bundled examples.", title="No example")
        with user_errors("run the model over T"):
            report = None if ZERO_GPU else (
                lambda fraction, stage: progress(0.8 * fraction, desc=f"analysing the example: {stage}"))
            analysis = self.example_analysis(example, report)
            progress(0.85, desc="running SpikEmo at T = 2 ... 64")
            sweep = run_sweep(*self.model_args(), analysis.conversation)
        modality = modality if modality in sweep.weights else next(iter(sweep.weights))
        changes = [i for i in range(len(analysis.conversation))
                   if len({row[i] for row in sweep.predictions}) > 1]
        text = (f"{len(analysis.conversation)} turns of `{example.name}`, {modality} stream. Predictions at "
                f"T={sweep.time_steps[-1]}: " + ", ".join(sweep.predictions[-1]) + ". ")
        text += (f"The predicted emotion changes with T for turn(s) {', '.join(str(i + 1) for i in changes)}. "
                 if changes else "No turn's predicted emotion changes with T. ")
        return plots.plot_time_step_sweep(sweep, modality), text + without_dswa_sentence(sweep)
