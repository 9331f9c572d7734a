"""The model work: the analysis of a video, the scoring of a CSV and the sweep over T.

These are module-level functions with picklable arguments because ZeroGPU (Hugging Face Spaces) runs GPU work
in a worker process, inside functions decorated with `spaces.GPU`; elsewhere (no ZeroGPU Space: a laptop, a CPU
Space, the tests) `spaces.GPU` returns the function itself and the work runs in the calling thread. Each process
loads the Analyzer of a `ModelSetup` once and shares it with every session.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import spaces

from spikemo.data.conversation import Conversation
from spikemo.errors import SpikEmoError
from spikemo.model.checkpoint import Checkpoint, load_checkpoint
from spikemo.runtime import pick_device
from spikemo.training.evaluate import score_csv, score_csv_and_without_dswa
from spikemo.video.analysis import Analysis
from spikemo.video.analyzer import Analyzer, PipelineConfig
from spikemo.video.media import probe_video
from spikemo.viz.conversation_teaching import ConversationNeuronTrace, trace_conversation_neurons
from spikemo.viz.lif_teaching import SWEEP_TIME_STEPS, TimeStepSweep, dswa_weights_by_time_steps
from spikemo.viz.ssa_teaching import TurnAttentionTrace, trace_turn_attention

# Whether this process runs on a ZeroGPU Space: what spaces.GPU itself checks (SPACES_ZERO_GPU, set by the Space).
# Only then does the work leave the process, and a progress callback cannot follow it.
ZERO_GPU: bool = spaces.config.Config.zero_gpu
# GPU seconds asked of ZeroGPU per call. A visitor's daily quota is counted in the seconds asked for (about 2
# minutes without an account), so an analysis asks for what its video needs: a fixed part for a worker's first-call
# set-up (Whisper, openSMILE, the face detector; 15.6 s on this 2-core CPU) and a part per minute of video: twice
# the CPU's warm 8.7 s a minute (`python -m spikemo bench pipeline`, generated 60 s conversation, median of 3;
# README "Deploy to a Space"). The CPU's figures bound the GPU's from above until scripts/gpu_check.sh measures it.
GPU_SECONDS_FIXED = 20.0
GPU_SECONDS_PER_VIDEO_MINUTE = 18.0
# The other GPU tasks (a CSV of up to 5,000 rows, the T sweep, one turn's attention) take seconds on a CPU.
GPU_SECONDS_OTHER = 30
gpu_task: Callable = spaces.GPU(duration=GPU_SECONDS_OTHER)

# The events that run the model share this concurrency id, so at most AppConfig.concurrency_limit of them run
# at once across all tabs.
MODEL_CONCURRENCY_ID = "model"


@dataclass(frozen=True)
class ModelSetup:
    """What the model work runs with: the checkpoint folder, the pipeline's settings and the device."""

    checkpoint_dir: Path
    pipeline: PipelineConfig
    device: str | None

    def cache_key(self) -> str:
        """Equal for setups that load the same Analyzer: the resolved checkpoint folder, the device, and every
        pipeline setting."""
        return json.dumps(
            {"checkpoint": str(Path(self.checkpoint_dir).resolve()), "device": self.device,
             "pipeline": asdict(self.pipeline)},
            sort_keys=True, default=str,
        )


@dataclass(frozen=True)
class ScoredFile:
    """A MELD-format CSV scored by one checkpoint: conversations with predictions, the metrics, and what the
    model predicts with its DSWA step skipped (empty when the checkpoint has no DSWA)."""

    name: str
    conversations: list[Conversation]
    metrics: dict
    labels: tuple[str, ...]
    seconds: float
    without_dswa: dict[str, list[str]]  # dialogue id -> label per turn
    changed_without_dswa: int  # turns whose label differs with DSWA skipped


_ANALYZERS: dict[str, Analyzer] = {}
_ANALYZERS_LOCK = threading.Lock()
# One analysis at a time per process: Whisper, openSMILE and the face detector are not shared across threads
# (the queue already runs one at a time; this also covers the start-up warm-up).
_ANALYSIS_LOCK = threading.Lock()


def get_analyzer(setup: ModelSetup) -> Analyzer:
    """The Analyzer of `setup`, loaded on first use; CheckpointError when the checkpoint is missing.

    Its weights go to the device when it loads. The app's start-up warm-up loads it, outside any GPU task: on a
    ZeroGPU Space that is the placement ZeroGPU expects (weights moved to CUDA in the main process, at start-up;
    the GPU task's worker then finds them on its GPU), and no visitor's GPU time pays for loading."""
    key = setup.cache_key()
    with _ANALYZERS_LOCK:
        if key not in _ANALYZERS:
            _ANALYZERS[key] = Analyzer(setup.checkpoint_dir, setup.pipeline, setup.device)
        return _ANALYZERS[key]


def analysis_gpu_seconds(video_seconds: float) -> int:
    """The GPU seconds to ask for the analysis of a video of `video_seconds`."""
    return int(round(GPU_SECONDS_FIXED + GPU_SECONDS_PER_VIDEO_MINUTE * video_seconds / 60))


def analysis_gpu_duration(setup: ModelSetup, video: str, *args: object, **kwargs: object) -> int:
    """spaces.GPU's per-call duration for run_analysis (same arguments): from the video's length, read from its
    header; a file that cannot be read asks for the fixed part only (the analysis refuses it at once)."""
    try:
        seconds = probe_video(Path(video), setup.pipeline.media).duration
    except SpikEmoError:
        seconds = 0.0
    return analysis_gpu_seconds(seconds)


def analyse_video(setup: ModelSetup, video: str, transcript: str | None, num_speakers: int | None,
                  speech_model: str, progress: Callable[[float, str], None] | None = None) -> Analysis:
    """The pipeline on one video (with its transcript, if given), in this process: the start-up warm-up calls it
    directly, never through a GPU task, so it spends no visitor's GPU time."""
    analyzer = get_analyzer(setup)
    with _ANALYSIS_LOCK:
        return analyzer.analyze(video, transcript, num_speakers, speech_model, progress=progress)


@spaces.GPU(duration=analysis_gpu_duration)
def run_analysis(setup: ModelSetup, video: str, transcript: str | None, num_speakers: int | None,
                 speech_model: str, progress: Callable[[float, str], None] | None = None) -> Analysis:
    """analyse_video inside a GPU task (on a ZeroGPU Space, the GPU is attached for this call only)."""
    return analyse_video(setup, video, transcript, num_speakers, speech_model, progress)


@gpu_task
def run_score(setup: ModelSetup, csv_path: Path) -> ScoredFile:
    """Score a MELD-format CSV, and predict it again with the DSWA step skipped."""
    started = time.perf_counter()
    analyzer = get_analyzer(setup)
    checkpoint = analyzer.checkpoint
    conversations, metrics, compared = score_csv_and_without_dswa(
        csv_path, checkpoint, pick_device(setup.device), analyzer.text_encoder, progress=True)
    without_dswa, changed = {}, 0
    if compared is not None:
        without_dswa = {c.conversation_id: labels for c, labels in zip(conversations, compared.labels())}
        changed = compared.changed
    return ScoredFile(csv_path.name, conversations, metrics, tuple(checkpoint.config.labels),
                      time.perf_counter() - started, without_dswa, changed)


@gpu_task
def run_sweep(setup: ModelSetup, conversation: Conversation) -> TimeStepSweep:
    """The DSWA weights and predictions of an analysed conversation at T = 2 ... 64."""
    model = get_analyzer(setup).checkpoint.model
    return dswa_weights_by_time_steps(model, conversation, SWEEP_TIME_STEPS, next(model.parameters()).device)


# The other checkpoint last compared with the app's (run_score_other); only one stays loaded, since a user may
# name any number of folders.
_OTHER_CHECKPOINT: dict[str, Checkpoint] = {}
_OTHER_CHECKPOINT_LOCK = threading.Lock()


@gpu_task
def run_score_other(checkpoint_dir: Path, device: str | None, csv_path: Path) -> ScoredFile:
    """Score a MELD-format CSV with another checkpoint than the app's, to compare the two on one file (without
    the DSWA comparison: the comparison is between the checkpoints)."""
    started = time.perf_counter()
    torch_device = pick_device(device)
    key = f"{Path(checkpoint_dir).resolve()}:{torch_device}"
    with _OTHER_CHECKPOINT_LOCK:
        if key not in _OTHER_CHECKPOINT:
            _OTHER_CHECKPOINT.clear()
            _OTHER_CHECKPOINT[key] = load_checkpoint(checkpoint_dir, device=torch_device)
        checkpoint = _OTHER_CHECKPOINT[key]
    conversations, metrics = score_csv(csv_path, checkpoint, torch_device, progress=True, cache=True)
    return ScoredFile(csv_path.name, conversations, metrics, tuple(checkpoint.config.labels),
                      time.perf_counter() - started, {}, 0)


@gpu_task
def run_conversation_neurons(setup: ModelSetup, conversation: Conversation, modality: str
                             ) -> ConversationNeuronTrace:
    """The conversation-time DSWA's neurons over an analysed conversation's `modality` stream, turn by turn."""
    model = get_analyzer(setup).checkpoint.model
    return trace_conversation_neurons(model, conversation, modality)


@gpu_task
def run_turn_attention(setup: ModelSetup, conversation: Conversation, modality: str, turn: int,
                       head: int) -> TurnAttentionTrace:
    """Spiking self-attention of an analysed conversation's `modality` stream, seen from one turn and one head
    (both 0-based)."""
    model = get_analyzer(setup).checkpoint.model
    return trace_turn_attention(model, conversation, modality, turn, head)
