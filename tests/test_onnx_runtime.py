"""The text encoder served by ONNX Runtime: exported once into the cache, checked on load, and giving torch's
features to float tolerance on the same token inputs."""

import numpy as np
import pytest
import torch

from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.meld import read_meld_csv
from spikemo.errors import CheckpointError
from spikemo.integrity import DIGEST_FILE
from spikemo.paths import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR
from spikemo.text import onnx_runtime
from spikemo.text.encoder import TextEncoder
from spikemo.text.onnx_runtime import OnnxTextEncoder, exported_encoder, load_text_encoder
from spikemo.text.packaged import default_text_encoder_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def dev_dialogues(count: int) -> list[Conversation]:
    return read_meld_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv")[:count]


def assert_same_reading_and_features(served: OnnxTextEncoder, reference: TextEncoder,
                                     conversations: list[Conversation]) -> None:
    items = served.tokenize(conversations)
    assert items == reference.tokenize(conversations)  # the same token inputs, padding id included
    assert served.pad_id == reference.pad_id and served.dim == reference.dim
    features = served.encode(items)
    assert features.shape == (len(items), reference.dim) and features.dtype == np.float32
    np.testing.assert_allclose(features, reference.encode(items), atol=1e-4)
    np.testing.assert_array_equal(features, served.encode(items, batch_size=3))  # batching changes nothing


@pytest.mark.slow
def test_the_shipped_encoder_is_exported_once_and_gives_torchs_features():
    adapters = DEFAULT_CHECKPOINT / "text_encoder"
    folder = exported_encoder(adapters)
    built = (folder / "model.onnx").stat().st_mtime_ns
    served = load_text_encoder(adapters)
    assert isinstance(served, OnnxTextEncoder) and served.runtime == "onnxruntime"
    assert (folder / "model.onnx").stat().st_mtime_ns == built  # loading again did not export again
    assert served.config.future_turns == TextEncoder.from_pretrained(str(adapters)).config.future_turns
    assert_same_reading_and_features(served, TextEncoder.from_pretrained(str(adapters)), dev_dialogues(4))


def test_an_encoder_with_token_types_exports_and_a_changed_export_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEMO_CACHE", str(tmp_path / "cache"))
    minilm = default_text_encoder_path()
    reference = TextEncoder.from_pretrained(minilm)
    reference.save_pretrained(tmp_path / "encoder")
    (tmp_path / "encoder" / "text_encoder_config.json").write_text(
        '{"max_length": 48, "context_turns": 2, "future_turns": 1}')
    served = load_text_encoder(tmp_path / "encoder")
    assert served.uses_token_types and served.config.max_length == 48
    reference.config = served.config
    long_turn = Conversation("long", [Utterance("Ann", " ".join(f"w{i}" for i in range(80))),
                                      Utterance("Bob", ""), Utterance("Cy", "ok then")])
    assert_same_reading_and_features(served, reference, dev_dialogues(2) + [long_turn])
    folder = exported_encoder(tmp_path / "encoder")
    weights = folder / "model.weights"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(CheckpointError, match="ONNX text encoder"):
        load_text_encoder(tmp_path / "encoder")
    (folder / DIGEST_FILE).unlink()  # an export that never finished is built again
    assert isinstance(load_text_encoder(tmp_path / "encoder"), OnnxTextEncoder)


def test_an_encoder_that_does_not_export_is_served_by_torch_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEMO_CACHE", str(tmp_path / "cache"))

    def cannot_export(encoder, path):
        raise torch.onnx.OnnxExporterError("an operator the exporter does not know")

    monkeypatch.setattr(onnx_runtime, "export_onnx", cannot_export)
    with pytest.warns(RuntimeWarning, match="served by torch: it could not be exported"):
        encoder = load_text_encoder(default_text_encoder_path())
    assert type(encoder) is TextEncoder
    assert not list((tmp_path / "cache").rglob("*.onnx"))  # nothing half-built left behind


def test_torch_is_used_when_asked_and_an_unknown_runtime_is_refused():
    assert type(load_text_encoder("minilm", "cpu", runtime="torch")) is TextEncoder
    with pytest.raises(CheckpointError, match="runtime must be one of"):
        load_text_encoder("minilm", "cpu", runtime="tensorrt")
