"""The text encoder served by ONNX Runtime: the same features as torch's (to about 1e-5) at about half the cost
on a CPU, and a cold start that never imports transformers.

A saved encoder folder (a checkpoint's text_encoder/, or a model folder) is exported once, with the target-mean
pooling inside the graph, to `{cache}/onnx-text-encoders/{name}-{key}/`, the key being the SHA-256 of the
folder's files, so a retrained encoder never meets a stale export. The folder holds:

    model.onnx              the graph: input_ids, attention_mask[, token_type_ids], pool_mask [B, L] -> pooled [B, dim]
    model.weights           its weights, apart: ONNX Runtime maps them from the file instead of copying them
                            (less peak memory), and they load as first used
    tokenizer.json          the encoder's Rust tokenizer, read with the `tokenizers` package
    serving.json            the pad id, the feature size and whether the model takes token types
    weights.sha256          the SHA-256 of model.onnx and model.weights, recorded when they were built and checked
                            on every load (spikemo.integrity.built_once)

Exporting needs torch, transformers and the `onnx` package (once per encoder); serving needs onnxruntime and
tokenizers only.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spikemo.errors import CheckpointError
from spikemo.integrity import built_once, sha256_of
from spikemo.paths import cache_dir
from spikemo.text.encoder import TextEncoder, TextEncoderConfig, UtteranceEncoder, masked_mean, saved_config
from spikemo.text.packaged import resolve_text_encoder

ONNX_FOLDER = "onnx-text-encoders"
SERVING_FILE = "serving.json"
MODEL_FILES: tuple[str, ...] = ("model.onnx", "model.weights")
OPSET = 17  # ONNX Runtime 1.32 runs it; MPNet and BERT export to it without custom operators
RUNTIMES: tuple[str, ...] = ("onnx", "torch")


class _PooledEncoder(nn.Module):
    """A transformers encoder and the masked mean, as one graph to export."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pool_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        return masked_mean(hidden, pool_mask)


def export_onnx(encoder: TextEncoder, path: Path) -> None:
    """Write `encoder`'s network and pooling as an ONNX graph with dynamic batch and length axes to `path`, its
    weights to `path` with the suffix ".weights"."""
    import onnx

    graph = path.with_suffix(".graph.onnx")
    names = ["input_ids", "attention_mask", "pool_mask"] + (["token_type_ids"] if encoder.uses_token_types else [])
    example = torch.ones((2, 8), dtype=torch.long)  # any shape: both axes are declared dynamic
    # The tracer warns about shape tests in transformers' masking code that hold for every input length here;
    # that the export gives torch's features at other shapes is checked by the tests, not assumed.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator", category=UserWarning)
        torch.onnx.export(
            _PooledEncoder(encoder.model.float().eval()), tuple(example for _ in names), str(graph),
            input_names=names, output_names=["pooled"], opset_version=OPSET, dynamo=False,
            dynamic_axes={**{name: {0: "batch", 1: "length"} for name in names}, "pooled": {0: "batch"}},
        )
    onnx.save_model(onnx.load(str(graph)), str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=path.with_suffix(".weights").name, size_threshold=1024)
    graph.unlink()


def exported_encoder(name_or_path: str | Path) -> Path:
    """The ONNX export of the saved encoder at `name_or_path` (a folder or an offline name), built on first use
    under cache_dir() (again when the folder lacks its SHA-256 record: an interrupted or older build); the
    export's SHA-256 is checked on every call."""
    folder_path = Path(resolve_text_encoder(str(name_or_path)))
    if not folder_path.is_dir():
        raise CheckpointError(f"only an encoder folder can be served by ONNX Runtime, not {str(name_or_path)!r}")
    files = sorted(p for p in folder_path.rglob("*") if p.is_file())
    folder = cache_dir() / ONNX_FOLDER / f"{folder_path.name}-{sha256_of(files)[:16]}"

    def build(building: Path) -> None:
        encoder = TextEncoder.from_pretrained(str(folder_path))
        export_onnx(encoder, building / "model.onnx")
        encoder.backend_tokenizer.save(str(building / "tokenizer.json"))
        serving = {"pad_id": encoder.pad_id, "dim": encoder.dim, "uses_token_types": encoder.uses_token_types}
        (building / SERVING_FILE).write_text(json.dumps(serving, indent=2), encoding="utf-8")

    return built_once(folder, MODEL_FILES, build, f"ONNX text encoder ({folder})")


class OnnxTextEncoder(UtteranceEncoder):
    """An exported encoder (`exported_encoder`) run by ONNX Runtime on the CPU, with `threads` intra-op threads."""

    runtime = "onnxruntime"

    def __init__(self, folder: Path, config: TextEncoderConfig, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        serving = json.loads((folder / SERVING_FILE).read_text(encoding="utf-8"))
        super().__init__(Tokenizer.from_file(str(folder / "tokenizer.json")), int(serving["pad_id"]),
                         bool(serving["uses_token_types"]), config, "cpu")
        self._dim = int(serving["dim"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Prepacked copies of the weight matrices raise peak memory for no speed gain measured on a CPU.
        options.add_session_config_entry("session.disable_prepacking", "1")
        self.session = onnxruntime.InferenceSession(str(folder / "model.onnx"), options,
                                                    providers=["CPUExecutionProvider"])
        self.input_names = [node.name for node in self.session.get_inputs()]

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, threads: int = 1) -> OnnxTextEncoder:
        """Serve the saved encoder at `name_or_path` (exported on first use); its config comes from the folder."""
        resolved = resolve_text_encoder(str(name_or_path))
        return cls(exported_encoder(resolved), replace(saved_config(resolved), name_or_path=resolved), threads)

    @property
    def dim(self) -> int:
        return self._dim

    def pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {name: batch[name].numpy() for name in self.input_names}
        (pooled,) = self.session.run(["pooled"], inputs)
        return torch.from_numpy(np.asarray(pooled, dtype=np.float32))


def load_text_encoder(name_or_path: str | Path, device: torch.device | str = "cpu", runtime: str = "onnx",
                      threads: int = 1) -> UtteranceEncoder:
    """The encoder to serve `name_or_path` with: ONNX Runtime on a CPU when `runtime` is "onnx" and the encoder
    is a folder, else torch (on a GPU, and for hub ids). threads: ONNX Runtime's intra-op threads.

    An encoder that does not export (an architecture the exporter cannot trace, or onnx missing) is served by torch
    with a warning; an export whose checksum does not match is refused (CheckpointError), never bypassed."""
    if runtime not in RUNTIMES:
        raise CheckpointError(f"text encoder runtime must be one of {RUNTIMES}, got {runtime!r}")
    on_cpu = torch.device(device).type == "cpu"
    if runtime == "onnx" and on_cpu and Path(resolve_text_encoder(str(name_or_path))).is_dir():
        try:
            return OnnxTextEncoder.from_pretrained(name_or_path, threads)
        except (ImportError, RuntimeError) as error:
            warnings.warn(f"the text encoder {str(name_or_path)!r} is served by torch: it could not be exported to "
                          f"ONNX ({error})", RuntimeWarning, stacklevel=2)
    return TextEncoder.from_pretrained(str(name_or_path), device=str(device))
