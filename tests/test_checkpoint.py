import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from spikemo.errors import CheckpointError
from spikemo.model.checkpoint import load_checkpoint, save_checkpoint
from spikemo.model.modeling import SpikEmoModel
from tests.helpers import tiny_config

CONFIG = tiny_config(("text", "audio"), input_dims={"text": 8, "audio": 6}, time_steps=3)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = SpikEmoModel(CONFIG).eval()
    save_checkpoint(tmp_path / "ckpt", model, {"note": "test"}, model_card="# card\n")
    return model, tmp_path / "ckpt"


def _inputs():
    generator = torch.Generator().manual_seed(1)
    features = {"text": torch.randn(2, 4, 8, generator=generator), "audio": torch.randn(2, 4, 6, generator=generator)}
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    return features, torch.zeros(2, 4, dtype=torch.long), mask


def test_round_trip_gives_the_same_predictions(saved):
    model, folder = saved
    loaded = load_checkpoint(folder)
    assert loaded.config == CONFIG
    assert loaded.metadata["note"] == "test"
    assert (folder / "README.md").read_text() == "# card\n"
    stored = load_file(folder / "model.safetensors")
    assert all(stored[name].dtype == torch.float16 for name, _ in model.named_parameters())
    features, speakers, mask = _inputs()
    with torch.inference_mode():
        expected = model(features, speakers, mask).logits
        got = loaded.model(features, speakers, mask).logits
    # stored in fp16: the same argmax, logits within fp16 rounding
    assert torch.equal(expected.argmax(-1)[mask], got.argmax(-1)[mask])
    assert torch.allclose(expected[mask], got[mask], atol=0.05)


def test_missing_folder_and_files(tmp_path, saved):
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        load_checkpoint(tmp_path / "nowhere")
    _, folder = saved
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_checkpoint(folder)


def test_config_that_does_not_match_the_weights(saved):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    config["model"]["hidden_size"] = 32
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not match its config.json"):
        load_checkpoint(folder)


def test_weights_with_a_missing_tensor(saved):
    _, folder = saved
    state = load_file(folder / "model.safetensors")
    state.pop(sorted(state)[0])
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(folder)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.update(format="something-else"), "not a SpikEmo checkpoint"),
        (lambda c: c.update(format_version=99), "format version 99"),
        (lambda c: c["model"].update(modalities=["smell"]), "no valid model config"),
        (lambda c: c.update(text_encoder="text_encoder"), "text encoder folder"),
    ],
)
def test_bad_config_json(saved, change, message):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)


def test_config_json_that_is_not_json(saved):
    _, folder = saved
    (folder / "config.json").write_bytes(np.arange(10, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(folder)
