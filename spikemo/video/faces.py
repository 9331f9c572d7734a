"""Face detection: MediaPipe Tasks `FaceDetector` with the BlazeFace short-range model shipped in assets/.

The .tflite comes from the mediapipe 0.10.21 wheel (Apache-2.0, provenance in
assets/licenses/face_detection_short_range.NOTICE). Its SHA-256 is checked before MediaPipe sees it, and the
verified bytes are handed over as a buffer, so the file cannot change between check and load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spikemo.errors import InputError
from spikemo.integrity import read_verified_bytes

if TYPE_CHECKING:
    from mediapipe.tasks.python import vision
from spikemo.paths import MODEL_ASSETS_DIR

FACE_MODEL_PATH = MODEL_ASSETS_DIR / "face_detection_short_range.tflite"
FACE_MODEL_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"

# BlazeFace keypoint order.
KEYPOINT_NAMES: tuple[str, ...] = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")



@dataclass(frozen=True)
class FaceDetectorConfig:
    model_path: Path = FACE_MODEL_PATH
    model_sha256: str = FACE_MODEL_SHA256
    # 0.6 rather than MediaPipe's 0.5: on uniform noise frames BlazeFace fires at ~0.55; real faces score ~0.9.
    min_detection_confidence: float = 0.6
    min_suppression_threshold: float = 0.3


@dataclass(frozen=True)
class FaceBox:
    """One detected face; coordinates are fractions of the frame's width (x) and height (y), clipped to [0, 1]."""

    x: float
    y: float
    width: float
    height: float
    score: float
    keypoints: tuple[tuple[float, float], ...]  # (x, y) per KEYPOINT_NAMES, normalised

    @property
    def area(self) -> float:
        """Fraction of the frame the box covers."""
        return self.width * self.height

    def to_pixels(self, frame_width: int, frame_height: int, margin: float = 0.0) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) pixel box grown by `margin` x box size on each side, clipped to the frame."""
        dx, dy = self.width * margin, self.height * margin
        x0 = int(np.floor(max(0.0, self.x - dx) * frame_width))
        y0 = int(np.floor(max(0.0, self.y - dy) * frame_height))
        x1 = int(np.ceil(min(1.0, self.x + self.width + dx) * frame_width))
        y1 = int(np.ceil(min(1.0, self.y + self.height + dy) * frame_height))
        return x0, y0, x1, y1


def check_rgb_frame(frame: np.ndarray) -> np.ndarray:
    """Validate an RGB frame (uint8 [H, W, 3]) and return it C-contiguous."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame must be an RGB uint8 array of shape [H, W, 3], got {frame.dtype} {frame.shape}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise InputError(f"frame is too small to search for faces: {frame.shape}")
    return np.ascontiguousarray(frame)


class FaceDetector:
    """BlazeFace short-range detector (faces within ~2 m of the camera). Use as a context manager or call close()."""

    def __init__(self, config: FaceDetectorConfig | None = None) -> None:
        # MediaPipe is imported here, where a detector is made: a cold start makes it while Whisper runs.
        import mediapipe as mp
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core import base_options

        self._image = mp.Image
        self._srgb = mp.ImageFormat.SRGB
        self.config = config or FaceDetectorConfig()
        model_bytes = read_verified_bytes(self.config.model_path, self.config.model_sha256)
        options = vision.FaceDetectorOptions(
            base_options=base_options.BaseOptions(model_asset_buffer=model_bytes),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=self.config.min_detection_confidence,
            min_suppression_threshold=self.config.min_suppression_threshold,
        )
        self._detector: vision.FaceDetector | None = vision.FaceDetector.create_from_options(options)

    def detect(self, frame_rgb: np.ndarray) -> list[FaceBox]:
        """Faces in one RGB uint8 [H, W, 3] frame, highest score first."""
        if self._detector is None:
            raise RuntimeError("FaceDetector is closed")
        frame = check_rgb_frame(frame_rgb)
        height, width = frame.shape[:2]
        result = self._detector.detect(self._image(image_format=self._srgb, data=frame))
        faces = []
        for detection in result.detections:
            box = detection.bounding_box  # pixels
            x0, y0 = max(0.0, box.origin_x / width), max(0.0, box.origin_y / height)
            x1 = min(1.0, (box.origin_x + box.width) / width)
            y1 = min(1.0, (box.origin_y + box.height) / height)
            if x1 <= x0 or y1 <= y0:
                continue
            faces.append(
                FaceBox(
                    x=x0,
                    y=y0,
                    width=x1 - x0,
                    height=y1 - y0,
                    score=float(detection.categories[0].score),
                    keypoints=tuple((float(k.x), float(k.y)) for k in detection.keypoints or ()),
                )
            )
        return sorted(faces, key=lambda face: face.score, reverse=True)

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
