"""Per-utterance visual features: facial expression probabilities pooled over the utterance's frames.

Frames come from the decoder with their presentation times (`decode_span`): each is a frame the video really
holds, so a video with one frame, or a turn between two frames of a sparse video, gets that one frame (or none),
never the same frame again under other sampling times; `extract` also counts a timestamp seen twice once.
For each frame (at most `VisualFeatureConfig.max_frames`, spread evenly over the utterance) the largest
detected face is cropped with a margin, turned into a grey 64x64 image and classified by the expression CNN.
The utterance vector (`VISUAL_FEATURE_NAMES`, 16 values, emotions in MELD label order) is

    mean expression probabilities over frames with a face     (7)
    max expression probabilities over frames with a face      (7)
    face presence: fraction of examined frames with a face    (1)
    mean face box area as a fraction of the frame             (1)

An utterance without any face (or without frames) gets all zeros and `face_found=False`: not an error, the
caller decides whether to warn. The face cue shown beside the prediction (`UtteranceVisual.face_cue`) also needs
`min_cue_frames` distinct frames; below that it is withheld and its note says why.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from spikemo.data.labels import MELD_LABELS
from spikemo.errors import InputError
from spikemo.video.expression import ExpressionClassifier, face_crop_to_grey64, fer_to_meld_order
from spikemo.video.faces import FaceBox, FaceDetector, FaceDetectorConfig, check_rgb_frame
from spikemo.video.media import MediaConfig

VISUAL_FEATURE_NAMES: tuple[str, ...] = (
    *(f"face_mean_prob_{label}" for label in MELD_LABELS),
    *(f"face_max_prob_{label}" for label in MELD_LABELS),
    "face_presence_ratio",
    "face_mean_area",
)
VISUAL_DIM = len(VISUAL_FEATURE_NAMES)
_MEAN = slice(0, len(MELD_LABELS))
_MAX = slice(len(MELD_LABELS), 2 * len(MELD_LABELS))
_PRESENCE = VISUAL_FEATURE_NAMES.index("face_presence_ratio")
_AREA = VISUAL_FEATURE_NAMES.index("face_mean_area")


@dataclass(frozen=True)
class VisualFeatureConfig:
    max_frames: int = 16  # frames examined per utterance, evenly spaced; bounds the cost of long utterances
    # A face cue needs this many distinct decoded frames in the turn: one frame (a still image, or a turn between
    # two frames of a sparse video) shows a moment, not the expression over the turn.
    min_cue_frames: int = 2
    face_margin: float = 0.1  # crop grows by this fraction of the face box on each side (fer pads its boxes too)
    detector: FaceDetectorConfig = FaceDetectorConfig()


@dataclass
class UtteranceVisual:
    """Visual analysis of one utterance. Per-frame arrays cover the examined frames only, each a distinct
    decoded frame."""

    vector: np.ndarray  # float32 [VISUAL_DIM]
    face_found: bool
    timestamps: np.ndarray  # float64 [F] seconds, examined frames
    frame_has_face: np.ndarray  # bool [F]
    frame_probs: np.ndarray  # float32 [F, 7], MELD label order; zeros where no face
    min_cue_frames: int = 1  # the extractor's VisualFeatureConfig.min_cue_frames

    @property
    def num_frames(self) -> int:
        return int(self.timestamps.shape[0])

    def face_cue(self) -> dict[str, str | float | int | None]:
        """The face cue shown beside the prediction: `expression_cues` of the vector, plus face_frames (the
        distinct decoded frames examined) and face_note (why there is no cue; "" when there is one). With fewer
        than min_cue_frames frames the expression is withheld."""
        cue = {**expression_cues(self.vector), "face_frames": self.num_frames, "face_note": ""}
        if self.num_frames == 0:
            cue["face_note"] = "no video frame in this turn"
        elif self.num_frames < self.min_cue_frames:
            note = f"only {frame_phrase(self.num_frames)} in this turn; a cue needs {self.min_cue_frames}"
            cue.update(face_expression=None, face_expression_prob=0.0, face_note=note)
        elif not self.face_found:
            cue["face_note"] = f"no face in {frame_phrase(self.num_frames)}"
        return cue


def frame_phrase(count: int) -> str:
    """'1 video frame', '3 video frames'."""
    return f"{count} video frame{'' if count == 1 else 's'}"


def crop_face_grey64(frame_rgb: np.ndarray, face: FaceBox, margin: float) -> np.ndarray:
    """Crop `face` (grown by `margin`) from an RGB uint8 [H, W, 3] frame -> grey uint8 [64, 64]."""
    height, width = frame_rgb.shape[:2]
    x0, y0, x1, y1 = face.to_pixels(width, height, margin)
    return face_crop_to_grey64(frame_rgb[y0:y1, x0:x1])


def _check_timed_frame(item: tuple[float, np.ndarray]) -> tuple[float, np.ndarray]:
    """Validate one (timestamp_s, RGB uint8 [H, W, 3]) pair."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise InputError(f"frames must be (timestamp_s, frame_rgb) pairs, got {type(item).__name__}")
    timestamp, frame = item
    if not isinstance(timestamp, (int, float, np.integer, np.floating)) or not np.isfinite(timestamp):
        raise InputError(f"frame timestamp must be a finite number of seconds, got {timestamp!r}")
    return float(timestamp), check_rgb_frame(frame)


def distinct_frames(frames: Iterable[tuple[float, np.ndarray]]) -> list[tuple[float, np.ndarray]]:
    """The valid (timestamp_s, frame) pairs with each decoded frame once: a timestamp seen before is the same
    frame handed out again (the first is kept)."""
    seen: set[float] = set()
    kept = []
    for item in frames:
        timestamp, frame = _check_timed_frame(item)
        if timestamp not in seen:
            seen.add(timestamp)
            kept.append((timestamp, frame))
    return kept


def evenly_spaced(items: list, limit: int) -> list:
    """At most `limit` items, spread evenly from first to last."""
    if len(items) <= limit:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


class VisualFeatureExtractor:
    """Face detection + expression CNN per utterance. Owns a MediaPipe detector: use as a context manager or close()."""

    def __init__(
        self, config: VisualFeatureConfig | None = None, classifier: ExpressionClassifier | None = None
    ) -> None:
        self.config = config or VisualFeatureConfig()
        if self.config.max_frames < 1:
            raise InputError(f"max_frames must be at least 1, got {self.config.max_frames}")
        self.classifier = classifier or ExpressionClassifier()
        self.detector = FaceDetector(self.config.detector)

    @property
    def dim(self) -> int:
        return VISUAL_DIM

    def extract(self, frames: Iterable[tuple[float, np.ndarray]]) -> UtteranceVisual:
        """frames: (timestamp_s, RGB uint8 [H, W, 3]) pairs inside one utterance, the timestamps the decoder's
        (a repeated one is the same frame, examined once) -> UtteranceVisual."""
        chosen = evenly_spaced(distinct_frames(frames), self.config.max_frames)
        timestamps = np.array([t for t, _ in chosen], dtype=np.float64)
        has_face = np.zeros(len(chosen), dtype=bool)
        areas, crops = [], []
        for i, (_, frame) in enumerate(chosen):
            faces = self.detector.detect(frame)
            if not faces:
                continue
            largest = max(faces, key=lambda face: face.area)
            has_face[i] = True
            areas.append(largest.area)
            crops.append(crop_face_grey64(frame, largest, self.config.face_margin))

        frame_probs = np.zeros((len(chosen), len(MELD_LABELS)), dtype=np.float32)
        vector = np.zeros(VISUAL_DIM, dtype=np.float32)
        if crops:
            probs = fer_to_meld_order(self.classifier.predict_proba(np.stack(crops)))
            frame_probs[has_face] = probs
            vector[_MEAN] = probs.mean(axis=0)
            vector[_MAX] = probs.max(axis=0)
            vector[_PRESENCE] = has_face.mean()
            vector[_AREA] = float(np.mean(areas))
        return UtteranceVisual(vector, bool(crops), timestamps, has_face, frame_probs, self.config.min_cue_frames)

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> VisualFeatureExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def expression_cues(vector: np.ndarray) -> dict[str, str | float | None]:
    """App summary of one utterance's visual vector [VISUAL_DIM].

    face_expression: MELD label with the highest mean probability (None without a face);
    face_expression_prob: that mean probability (0..1); face_presence: fraction of frames with a face.
    """
    vector = np.asarray(vector, dtype=np.float32)
    if vector.shape != (VISUAL_DIM,):
        raise InputError(f"visual feature vector must have shape ({VISUAL_DIM},), got {vector.shape}")
    mean_probs = vector[_MEAN]
    presence = float(vector[_PRESENCE])
    if presence <= 0.0:
        return {"face_expression": None, "face_expression_prob": 0.0, "face_presence": 0.0}
    best = int(np.argmax(mean_probs))
    return {
        "face_expression": MELD_LABELS[best],
        "face_expression_prob": float(mean_probs[best]),
        "face_presence": presence,
    }


# showinfo's line for each frame that passed the select filter: its presentation time and its size.
_SHOWINFO = re.compile(r"\bpts_time:\s*(\S+).*?\bs:(\d+)x(\d+)")


def decode_span(
    video: str | Path, start: float, end: float, frames_per_second: float, media: MediaConfig = MediaConfig()
) -> list[tuple[float, np.ndarray]]:
    """The frames the video holds inside [start, end) seconds, at most one per 1/frames_per_second seconds, as
    (presentation time in seconds, RGB uint8 [H, W, 3]) pairs.

    ffmpeg picks the frames (its select filter keeps a decoded frame when it lies at least one interval after the
    last one kept) and reports each one's time (showinfo): only frames the stream really holds come out, so a
    single-frame video yields its frame in the turn that covers its time and nothing elsewhere, where sampling a
    player at fixed times would hand out that frame again and again.
    """
    path = Path(video)
    if not path.is_file():
        raise InputError(f"Video file not found: {path.name}")
    if path.stat().st_size > media.max_file_bytes:
        raise InputError(f"{path.name} is over the {media.max_file_bytes / 1024**2:g} MiB limit.")
    if frames_per_second <= 0:
        raise InputError(f"frames_per_second must be positive, got {frames_per_second}")
    start = max(0.0, start)
    if end <= start:
        return []
    interval = 1.0 / frames_per_second
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "info",
        "-ss", f"{start:.6f}", "-t", f"{end - start:.6f}", "-i", str(path), "-map", "0:v:0",
        "-vf", f"select='isnan(prev_selected_t)+gte(t-prev_selected_t,{interval:.6f})',showinfo",
        "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise InputError(f"{path.name}: its picture stream cannot be decoded between {start:.2f} and {end:.2f} s.")
    frames, offset = [], 0
    for pts_time, width, height in _SHOWINFO.findall(result.stderr.decode("utf-8", "replace")):
        size = int(width) * int(height) * 3
        pixels = result.stdout[offset:offset + size]
        offset += size
        if len(pixels) < size:
            break
        try:
            timestamp = start + float(pts_time)
        except ValueError:  # a frame without a presentation time ("NOPTS") cannot be placed in the turn
            continue
        if timestamp < end:
            frames.append((timestamp, np.frombuffer(pixels, np.uint8).reshape(int(height), int(width), 3)))
    return frames


def visual_features_for_span(
    extractor: VisualFeatureExtractor,
    video: str | Path,
    start: float,
    end: float,
    frames_per_second: float,
    media: MediaConfig = MediaConfig(),
) -> UtteranceVisual:
    """Faces and expressions on the decoded frames of [start, end) seconds of the video (`decode_span`).

    Frames are taken at most frames_per_second apart, or further on a long span, so that at most the extractor's
    max_frames frames (plus one) are ever decoded into memory for one utterance.
    """
    duration = max(end - start, 1e-3)
    fps = min(frames_per_second, extractor.config.max_frames / duration)
    return extractor.extract(decode_span(video, start, end, fps, media))
