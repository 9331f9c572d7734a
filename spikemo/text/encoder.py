"""Stage 1: utterance text features from a transformer that sees the dialogue context.

The paper's text features come from RoBERTa fine-tuned on the ERC data with dialogue context (EmoBERTa). No
such model can be fetched here, so the encoders are the offline ones registry packages carry: all-MiniLM-L6-v2
(384-d, the default for new training runs) and all-mpnet-base-v2 (768-d, under the shipped checkpoint, with
LoRA adapters), fine-tuned here on MELD's train split with `finetune_text_encoder`. Any transformers model id
or folder can be used instead (hub ids need internet).

Each utterance is encoded as a sentence pair:
    [CLS] <previous turns, "Speaker: text" ...> [SEP] <"Speaker: utterance"> <following turns, if any> [SEP]
The context is cut from the left when too long (the most recent words matter most), and the feature is the
mean of the last hidden states over the target utterance's tokens only: context informs them through
attention, but neighbouring utterances, whose contexts overlap, keep distinct features. Following turns
(`future_turns`, EmoBERTa's past-and-future input) are possible because the app has the whole transcript
before it encodes any turn.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm.auto import tqdm

from spikemo.data.conversation import Conversation
from spikemo.errors import CheckpointError, InputError
from spikemo.integrity import built_once, sha256_of
from spikemo.paths import cache_dir
from spikemo.serialization import JsonDataclass
from spikemo.text.packaged import MINILM, MPNET, default_text_encoder_path, resolve_text_encoder

if TYPE_CHECKING:  # transformers is imported where a model is loaded: the ONNX Runtime path never needs it
    from tokenizers import Tokenizer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CONFIG_FILENAME = "text_encoder_config.json"
ADAPTER_FILES: tuple[str, ...] = ("adapter_config.json", "adapter_model.safetensors")  # what peft saves for LoRA
MERGED_FOLDER = "merged-text-encoders"  # under cache_dir(): LoRA adapters merged into their pinned base, once
POOLINGS: tuple[str, ...] = ("target_mean", "mean")


@dataclass
class TextEncoderConfig(JsonDataclass):
    """How an utterance becomes a model input, and how hidden states become one vector.

    context_turns: previous utterances of the same conversation included as context. 3 covers a typical MELD
        exchange while keeping inputs short (training time grows with the input length).
    future_turns: following utterances appended after the target; they take at most half the token budget
        (the previous turns keep the rest). 0 (the default, and every checkpoint saved before it existed): none.
    max_length: token budget of the pair; MELD's longest utterance (69 words) fits in 128 with room for context.
    include_speaker: prefix each turn with "Speaker: " (who speaks is a strong cue in multi-party dialogue).
    pooling: "target_mean" (mean over the target utterance's tokens) or "mean" (over all tokens).
    base_model: set when a saved folder holds only LoRA adapters: the encoder they adapt ("mpnet", "minilm",
        a folder or a hub id), loaded from its own package or folder and merged with them.
    """

    name_or_path: str = field(default_factory=default_text_encoder_path)
    max_length: int = 128
    context_turns: int = 3
    future_turns: int = 0
    include_speaker: bool = True
    pooling: str = "target_mean"
    base_model: str | None = None

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise InputError(f"text encoder pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.context_turns < 0 or self.future_turns < 0 or self.max_length < 8:
            raise InputError("text encoder needs context_turns >= 0, future_turns >= 0 and max_length >= 8")


def _read_saved_config(path: Path) -> TextEncoderConfig:
    try:
        return TextEncoderConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is not a valid text encoder config: {error}") from error


def _turn(speaker: str, text: str, include_speaker: bool) -> str:
    return f"{speaker}: {text}" if include_speaker and speaker else text


def build_text_input(conversation: Conversation, index: int, config: TextEncoderConfig) -> tuple[str, str, str]:
    """(context, target, following) for utterance `index`: the previous `context_turns` turns oldest first, the
    turn, and the next `future_turns` turns in order.

    e.g. ("Ross: Hi. Rachel: Hey!", "Monica: What's up?", "") with no future turns; the context is "" for a
    conversation's first turn and the following "" for its last.
    """
    utterances = conversation.utterances
    first = max(0, index - config.context_turns)
    context = " ".join(_turn(u.speaker, u.text, config.include_speaker) for u in utterances[first:index])
    target = _turn(utterances[index].speaker, utterances[index].text, config.include_speaker)
    following = " ".join(_turn(u.speaker, u.text, config.include_speaker)
                         for u in utterances[index + 1 : index + 1 + config.future_turns])
    return context, target, following


@dataclass
class EncodedUtterance:
    """One tokenised (context, target) pair, unpadded. target_mask marks the target's tokens (1) from the rest."""

    input_ids: list[int]
    token_type_ids: list[int] | None
    target_mask: list[int]


class UtteranceEncoder:
    """The input recipe of `TextEncoderConfig` around a network that pools hidden states: turns in, features out.

    Subclasses run the network (`pooled`): TextEncoder with torch (trainable, any device), and
    spikemo.text.onnx_runtime.OnnxTextEncoder with ONNX Runtime (serving on a CPU). Both tokenize with the same
    Rust tokenizer, so they read a turn the same way. `encode_conversations` fills `utterance.features["text"]`
    (float32 [dim]) for every utterance.
    """

    runtime = ""  # what runs the network: part of a feature cache's key, since runtimes differ in the last bits

    def __init__(self, backend_tokenizer: Tokenizer, pad_id: int, uses_token_types: bool, config: TextEncoderConfig,
                 device: str = "cpu") -> None:
        self.backend_tokenizer = backend_tokenizer
        self.pad_id = pad_id  # models such as MPNet derive positions from it: it must be the model's own
        self.uses_token_types = uses_token_types
        self.config = config
        self.device = torch.device(device)

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Masked mean of the last hidden states: batch from `collate` -> [B, dim]."""
        raise NotImplementedError

    def tokenize(self, conversations: list[Conversation]) -> list[EncodedUtterance]:
        """Every utterance of `conversations`, in order, as an unpadded (context, target + following) token pair."""
        triples = [build_text_input(c, i, self.config) for c in conversations for i in range(len(c))]
        if not triples:
            return []
        tokenizer = self.backend_tokenizer
        tokenizer.no_padding()
        seconds = self._fit_second_segments(triples)
        # The context is cut from the left: its most recent words stay.
        tokenizer.enable_truncation(self.config.max_length, strategy="only_first", direction="left")
        encodings = tokenizer.encode_batch([(context, second) for (context, _, _), second in zip(triples, seconds)])
        return [
            EncodedUtterance(
                input_ids=encoding.ids,
                token_type_ids=encoding.type_ids if self.uses_token_types else None,
                # the second segment's tokens that lie inside the target's characters (not the following turns)
                target_mask=[int(sequence == 1 and end <= len(target))
                             for sequence, (_, end) in zip(encoding.sequence_ids, encoding.offsets)],
            )
            for encoding, (_, target, _) in zip(encodings, triples)
        ]

    def _fit_second_segments(self, triples: list[tuple[str, str, str]]) -> list[str]:
        """The second segment of each pair, "target following", cut at its end to fit the budget.

        Following turns get at most half the budget (or none beyond a target longer than that); a target that
        alone exceeds the budget is cut at its end (context truncation can't make room). With a context, one
        token of the budget stays reserved for it: the tokenizer refuses to truncate a first sequence away
        entirely.
        """
        tokenizer = self.backend_tokenizer
        budget = self.config.max_length - tokenizer.post_processor.num_special_tokens_to_add(True)
        seconds = [f"{target} {following}" if following else target for _, target, following in triples]
        tokenizer.no_truncation()
        encodings = tokenizer.encode_batch(seconds, add_special_tokens=False)
        fitted = []
        for (context, target, following), second, encoding in zip(triples, seconds, encodings):
            offsets = encoding.offsets
            room = budget - 1 if context else budget
            if following:
                target_tokens = sum(end <= len(target) for _, end in offsets)
                room = min(room, max(target_tokens, budget // 2))
            fitted.append(second[: offsets[room - 1][1]] if len(offsets) > room else second)
        return fitted

    def collate(self, items: list[EncodedUtterance]) -> dict[str, torch.Tensor]:
        """Pad a batch to its longest item: input_ids/attention_mask/pool_mask [B, L] (+ token_type_ids)."""
        length = max(len(item.input_ids) for item in items)
        input_ids = torch.full((len(items), length), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), length), dtype=torch.long)
        target_mask = torch.zeros((len(items), length), dtype=torch.long)
        token_type_ids = torch.zeros((len(items), length), dtype=torch.long)
        for row, item in enumerate(items):
            n = len(item.input_ids)
            input_ids[row, :n] = torch.tensor(item.input_ids)
            attention_mask[row, :n] = 1
            target_mask[row, :n] = torch.tensor(item.target_mask)
            if item.token_type_ids is not None:
                token_type_ids[row, :n] = torch.tensor(item.token_type_ids)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if items[0].token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        pool_mask = target_mask if self.config.pooling == "target_mean" else attention_mask
        empty = pool_mask.sum(dim=1) == 0  # an empty utterance: pool over whatever the input holds
        pool_mask[empty] = attention_mask[empty]
        return {**{k: v.to(self.device) for k, v in batch.items()}, "pool_mask": pool_mask.to(self.device)}

    def encode(self, items: list[EncodedUtterance], batch_size: int | None = None,
               progress: bool = False) -> np.ndarray:
        """Pooled features of tokenised utterances, in input order: [N, dim] float32. Batches group turns of like
        length (less padding); batch_size defaults to 64 on a GPU and 16 on a CPU, where small batches measured
        faster (fewer padded positions, better cache use)."""
        batch_size = batch_size or (64 if self.device.type == "cuda" else 16)
        features = np.zeros((len(items), self.dim), dtype=np.float32)
        order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))
        with torch.inference_mode(), tqdm(total=len(order), desc="text features", unit="turn",
                                          disable=not progress) as turns_done:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                pooled = self.pooled(self.collate([items[i] for i in rows]))
                features[rows] = pooled.float().cpu().numpy()
                turns_done.update(len(rows))  # progress in turns, not batches
        return features

    def encode_conversations(self, conversations: list[Conversation], batch_size: int | None = None,
                             progress: bool = False) -> None:
        """Fill `utterance.features["text"]` (float32 [dim]) for every utterance of every conversation."""
        features = self.encode(self.tokenize(conversations), batch_size, progress)
        utterances = [u for c in conversations for u in c.utterances]
        for utterance, vector in zip(utterances, features):
            utterance.features["text"] = vector


def masked_mean(hidden: torch.Tensor, pool_mask: torch.Tensor) -> torch.Tensor:
    """Mean of hidden [B, L, dim] over the positions where pool_mask [B, L] is 1 -> [B, dim]."""
    mask = pool_mask.unsqueeze(-1).to(hidden.dtype)  # [B, L, 1]
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class TextEncoder(UtteranceEncoder):
    """A transformers encoder run by torch: the one that trains (spikemo.text.finetune), saves and runs on a GPU."""

    runtime = "torch"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: TextEncoderConfig,
                 device: str = "cpu") -> None:
        if not tokenizer.is_fast:
            raise CheckpointError(f"text encoder {config.name_or_path!r} needs a fast (Rust) tokenizer")
        super().__init__(tokenizer.backend_tokenizer, tokenizer.pad_token_id or 0,
                         "token_type_ids" in tokenizer.model_input_names, config, device)
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.adapters_dir: Path | None = None  # set by from_pretrained when it merged saved LoRA adapters in

    @classmethod
    def from_pretrained(cls, name_or_path: str, config: TextEncoderConfig | None = None,
                        device: str = "cpu") -> TextEncoder:
        """Load a transformers model folder, hub id or offline name ("minilm", "mpnet"); a folder from
        `save_pretrained` brings its own config, and one of LoRA adapters its base model too."""
        name_or_path = resolve_text_encoder(str(name_or_path))
        config = replace(config or saved_config(name_or_path), name_or_path=name_or_path)
        adapters = Path(name_or_path) if config.base_model else None
        if adapters is not None and config.base_model == MPNET:
            # The merge of these adapters into their pinned base is built once and kept: a cold start then loads
            # one model, without peft and without merging.
            model, tokenizer = load_transformer(str(merged_encoder(adapters)))
        else:
            model, tokenizer = load_transformer(resolve_text_encoder(config.base_model) if adapters else name_or_path)
            if adapters is not None:
                model = merge_adapters(model, adapters)
        encoder = cls(model, tokenizer, config, device)
        encoder.adapters_dir = adapters
        return encoder

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> None:
        """Write `text_encoder_config.json` and the weights to `directory`: only the LoRA adapters when the
        encoder was fine-tuned with them, or loaded from them (the base stays in its package), else the whole
        model (stored as `dtype` when given: float16 halves a shipped checkpoint) and its tokenizer. Loading
        computes in float32."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if hasattr(self.model, "peft_config"):  # a peft model, fine-tuned with LoRA adapters
            self.model.save_pretrained(directory)
            (directory / "README.md").unlink(missing_ok=True)  # peft's empty hub card template
            # peft records the base's folder on this machine; the portable name is the one loading resolves
            adapter_config = json.loads((directory / ADAPTER_FILES[0]).read_text(encoding="utf-8"))
            adapter_config["base_model_name_or_path"] = self.config.base_model
            (directory / ADAPTER_FILES[0]).write_text(json.dumps(adapter_config, indent=2), encoding="utf-8")
        elif self.adapters_dir is not None:  # served with the adapters merged in: save the adapters, not the merge
            for name in ADAPTER_FILES:
                if (directory / name).resolve() != (self.adapters_dir / name).resolve():
                    shutil.copyfile(self.adapters_dir / name, directory / name)
        else:
            model = self.model if dtype is None else copy.deepcopy(self.model).to(dtype)
            model.save_pretrained(directory)
            self.tokenizer.save_pretrained(directory)
        settings = {k: v for k, v in self.config.to_dict().items() if k != "name_or_path"}
        (directory / CONFIG_FILENAME).write_text(json.dumps(settings, indent=2), encoding="utf-8")

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "pool_mask"}
        return masked_mean(self.model(**inputs).last_hidden_state, batch["pool_mask"])

    def encode(self, items: list[EncodedUtterance], batch_size: int | None = None,
               progress: bool = False) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            return super().encode(items, batch_size, progress)
        finally:
            self.model.train(was_training)


def saved_config(name_or_path: str) -> TextEncoderConfig:
    """The config a `save_pretrained` folder brings, else the defaults."""
    path = Path(name_or_path) / CONFIG_FILENAME
    return _read_saved_config(path) if path.is_file() else TextEncoderConfig()


def load_transformer(weights_from: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A transformers model (float32) and its tokenizer from a folder or hub id; CheckpointError when neither
    loads."""
    from transformers import AutoModel, AutoTokenizer

    try:
        return AutoModel.from_pretrained(weights_from, dtype=torch.float32), AutoTokenizer.from_pretrained(weights_from)
    except (OSError, ValueError) as error:
        if Path(weights_from).exists():
            problem = "the folder holds no usable transformers model and tokenizer"
        else:
            problem = ("it is not a folder here and could not be fetched from the Hugging Face hub "
                       "(no internet, or an unknown id)")
        raise CheckpointError(
            f"cannot load text encoder {weights_from!r}: {problem}. Use a local model folder or one of the "
            f"offline names {MINILM!r} and {MPNET!r}. Details: {error}"
        ) from error


def merged_encoder(adapters: Path) -> Path:
    """The folder of `adapters` merged into the offline mpnet (whose weights are pinned by SHA-256), built on first
    use under cache_dir() and named by the adapters' SHA-256; its weights' SHA-256, recorded when it was built,
    is checked on every load, as the base's is (spikemo.integrity.built_once)."""
    folder = cache_dir() / MERGED_FOLDER / f"{MPNET}-{sha256_of([adapters / n for n in ADAPTER_FILES])[:16]}"

    def build(building: Path) -> None:
        model, tokenizer = load_transformer(resolve_text_encoder(MPNET))
        merge_adapters(model, adapters).save_pretrained(building)
        tokenizer.save_pretrained(building)

    return built_once(folder, ["model.safetensors"], build, f"merged text encoder ({folder})")


def merge_adapters(base: PreTrainedModel, folder: Path) -> PreTrainedModel:
    """The base model with the LoRA adapters saved in `folder` merged into its weights (serving runs at the
    base model's speed); CheckpointError when the adapters do not fit that base."""
    from peft import PeftModel  # only where adapters are merged: serving a built merge needs no peft

    try:
        return PeftModel.from_pretrained(base, folder).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(f"the LoRA adapters in {folder} do not load onto their base model: {error}") from error
