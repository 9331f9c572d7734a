"""The SpikEmo network (arXiv 2411.13917): per-modality encoding, DSWA, MultiAttn fusion, classifier.

For each modality present:
  projection   Linear(D_m -> h) -> LayerNorm -> dropout, + speaker embedding
  context      bidirectional DialogueRNN (modalities in config.context_modalities)
  DSWA         Spikformer over T time steps -> per-utterance weights: F <- softmax(E) * F + F
then MultiAttn cross-modal fusion of the streams, and a classifier on the concatenated fused streams (a
modality missing at run time fills its slot with zeros, so one checkpoint serves any subset).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from spikemo.errors import CheckpointError
from spikemo.model.configuration import SpikEmoConfig
from spikemo.model.conversation_dswa import ConversationDSWA
from spikemo.model.dialogue_rnn import DialogueContextEncoder
from spikemo.model.dswa import DSWA
from spikemo.model.fusion import MultiAttnFusion

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CHECKPOINT_FORMAT = "spikemo-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class SpikEmoOutput:
    """What one forward pass returns.

    logits: [B, L, C] (finite everywhere; meaningless at padding).
    fused: modality -> [B, L, h] fused stream of each modality present (zero at padding).
    dswa_weights: modality -> [B, L] per-utterance DSWA weight (0 at padding, each row sums to 1 over the
        real utterances); empty when the model has no DSWA.
    spike_rates: with return_traces, "<modality>/layer<i>" -> [T, B, L] mean firing rate of block i's output
        spikes at each time step (0 at padding).
    spikes: with return_traces, same keys -> [T, B, L, h] uint8 output spikes, for raster plots.
    """

    logits: Tensor
    fused: dict[str, Tensor]
    dswa_weights: dict[str, Tensor] = field(default_factory=dict)
    spike_rates: dict[str, Tensor] = field(default_factory=dict)
    spikes: dict[str, Tensor] = field(default_factory=dict)


class ModalityProjection(nn.Module):
    """Standardise, project to the shared width, add who is speaking.

    forward: features [B, L, D], speakers [B, L] long -> [B, L, h].
    `feature_mean`/`feature_std` (buffers, saved with the weights) default to 0/1; training may set them
    from training-set statistics with `set_feature_statistics` so that serving standardises the same way.
    """

    def __init__(self, input_dim: int, size: int, max_speakers: int, use_speaker: bool, dropout: float):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(input_dim))
        self.register_buffer("feature_std", torch.ones(input_dim))
        self.linear = nn.Linear(input_dim, size)
        self.norm = nn.LayerNorm(size)
        self.dropout = nn.Dropout(dropout)
        self.speaker = nn.Embedding(max_speakers, size) if use_speaker else None

    def set_feature_statistics(self, mean: Tensor, std: Tensor) -> None:
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(1e-6))

    def forward(self, features: Tensor, speakers: Tensor) -> Tensor:
        x = (features - self.feature_mean) / self.feature_std
        x = self.dropout(self.norm(self.linear(x)))
        return x + self.speaker(speakers) if self.speaker is not None else x


def build_dswa(config: SpikEmoConfig) -> DSWA | ConversationDSWA:
    """One modality's DSWA step, of the config's variant."""
    if config.dswa_variant == "conversation":
        return ConversationDSWA(config.hidden_size, config.conversation_neurons, config.time_steps,
                                config.conversation_tau_turns, config.lif_threshold, config.conversation_output,
                                config.conversation_spiking)
    return DSWA(config.hidden_size, config.spikformer_layers, config.spikformer_heads, config.spikformer_mlp_ratio,
                config.time_steps, config.lif_time_constant, config.lif_threshold, config.dswa_variant)


class SpikEmoModel(nn.Module):
    """SpikEmo. See the module docstring for the data flow and SpikEmoOutput for what comes back."""

    def __init__(self, config: SpikEmoConfig):
        super().__init__()
        self.config = config
        h = config.hidden_size
        self.projections = nn.ModuleDict(
            {
                m: ModalityProjection(
                    config.input_dims[m], h, config.max_speakers, config.use_speaker_embedding, config.dropout
                )
                for m in config.modalities
            }
        )
        self.context = nn.ModuleDict(
            {
                m: DialogueContextEncoder(h, config.max_speakers, config.dropout)
                for m in config.modalities
                if m in config.context_modalities
            }
        )
        self.dswa = nn.ModuleDict({m: build_dswa(config) for m in config.modalities if config.use_dswa})
        self.fusion = MultiAttnFusion(
            config.modalities, h, config.fusion_layers, config.fusion_heads, config.fusion_ffn, config.dropout
        )
        self.classifier = nn.Sequential(
            nn.Linear(len(config.modalities) * h, h),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(h, h),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(h, config.num_labels),
        )

    def save_pretrained(
        self, directory: str | Path, metadata: dict | None = None, dtype: torch.dtype = torch.float16
    ) -> Path:
        """Write model.safetensors (parameters stored as `dtype`) and config.json (`metadata` + the config)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # Buffers (feature statistics: openSMILE values reach 1e5) stay float32.
        parameters = dict(self.named_parameters())
        state = {
            name: (t.to(dtype) if name in parameters else t).detach().cpu().contiguous()
            for name, t in self.state_dict().items()
        }
        save_file(state, directory / WEIGHTS_NAME)
        config = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            **(metadata or {}),
            "model": self.config.to_dict(),
        }
        (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "SpikEmoModel":
        """A model saved by `save_pretrained`, in eval mode and float32; CheckpointError when the folder is
        not a SpikEmo model or its weights do not fit its config."""
        directory = Path(directory)
        metadata = read_pretrained_config(directory)
        try:
            config = SpikEmoConfig.from_dict(metadata["model"])
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"{directory}/{CONFIG_NAME} has no valid model config: {error}") from error
        model = cls(config)
        state = load_file(directory / WEIGHTS_NAME)
        _check_state_matches(model, state, directory)
        model.load_state_dict({name: t.float() if t.is_floating_point() else t for name, t in state.items()})
        return model.eval()

    def set_feature_statistics(self, statistics: dict[str, tuple[Tensor, Tensor]]) -> None:
        """Store per-modality (mean [D_m], std [D_m]) of the training features; inputs are standardised by them."""
        for modality, (mean, std) in statistics.items():
            self.projections[modality].set_feature_statistics(mean, std)

    def forward(
        self,
        features: dict[str, Tensor],
        speakers: Tensor,
        mask: Tensor,
        return_traces: bool = False,
        time_steps: int | None = None,
        skip_dswa: bool = False,
    ) -> SpikEmoOutput:
        """features: modality -> [B, L, D_m] float (a non-empty subset of config.modalities);
        speakers: [B, L] long local speaker index (clamped to max_speakers - 1; any value at padding);
        mask: [B, L] bool, True at real utterances, which come first in each row;
        return_traces: also return spike rates and spikes; time_steps: override config.time_steps;
        skip_dswa: pass the features by DSWA unchanged (what a trained model decides without it).
        """
        mask = mask.bool()
        keep = mask.unsqueeze(-1)
        streams, weights, rates, spikes = {}, {}, {}, {}
        for m, x in self.dswa_inputs(features, speakers, mask).items():
            if m in self.dswa and not skip_dswa:
                x, weights[m], block_spikes = self.dswa[m](x, mask, time_steps)
                if return_traces:
                    for i, s in enumerate(block_spikes):
                        rates[f"{m}/layer{i}"] = s.detach().mean(dim=-1)
                        spikes[f"{m}/layer{i}"] = s.detach().to(torch.uint8)
            streams[m] = x
        fused = {m: x * keep for m, x in self.fusion(streams, mask).items()}
        first = next(iter(fused.values()))
        slots = [fused[m] if m in fused else torch.zeros_like(first) for m in self.config.modalities]
        logits = self.classifier(torch.cat(slots, dim=-1))
        return SpikEmoOutput(logits=logits, fused=fused, dswa_weights=weights, spike_rates=rates, spikes=spikes)

    def dswa_inputs(self, features: dict[str, Tensor], speakers: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """What each given modality's DSWA step receives: its features projected to h (and passed through the
        context encoder where there is one), [B, L, h]; inputs as in `forward`."""
        mask = mask.bool()
        self._check_inputs(features, speakers, mask)
        speakers = speakers.long().clamp(0, self.config.max_speakers - 1)
        keep = mask.unsqueeze(-1)
        inputs = {}
        for m in self.config.modalities:
            if m not in features:
                continue
            # Padding may hold anything (even NaN): it must not reach the LayerNorms or the GRUs.
            x = self.projections[m](features[m].float().masked_fill(~keep, 0.0), speakers)
            inputs[m] = self.context[m](x, speakers, mask) if m in self.context else x
        return inputs

    def _check_inputs(self, features: dict[str, Tensor], speakers: Tensor, mask: Tensor) -> None:
        built = self.config.modalities
        if not features:
            raise ValueError(f"no features given; this model takes any of: {', '.join(built)}")
        unknown = [m for m in features if m not in built]
        if unknown:
            raise ValueError(f"model was built for {', '.join(built)}; cannot take {', '.join(unknown)} features")
        if mask.dim() != 2 or speakers.shape != mask.shape:
            raise ValueError(f"mask and speakers must both be [B, L], got {tuple(mask.shape)}, {tuple(speakers.shape)}")
        for m, x in features.items():
            expected = (*mask.shape, self.config.input_dims[m])
            if tuple(x.shape) != expected:
                raise ValueError(f"{m} features must be [B, L, D] = {list(expected)}, got {list(x.shape)}")
            if not torch.isfinite(x[mask]).all():
                raise ValueError(f"{m} features contain NaN or infinity at real utterances")
        lengths = mask.sum(dim=1, keepdim=True)
        if not torch.equal(mask, torch.arange(mask.shape[1], device=mask.device) < lengths):
            raise ValueError("mask must mark each dialogue's real utterances first, padding after them")


def read_pretrained_config(directory: str | Path) -> dict:
    """The validated config.json of a saved model folder (format and version checked), as a dict."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint folder at {directory}")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (directory / name).is_file():
            raise CheckpointError(f"{directory} is not a SpikEmo checkpoint: {name} is missing")
    try:
        metadata = json.loads((directory / CONFIG_NAME).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{directory}/{CONFIG_NAME} is not valid JSON: {error}") from error
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{directory}/{CONFIG_NAME} is not a SpikEmo checkpoint config (format field)")
    if metadata.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{directory} has checkpoint format version {metadata.get('format_version')}, "
            f"this SpikEmo reads version {CHECKPOINT_VERSION}"
        )
    return metadata


def _check_state_matches(model: SpikEmoModel, state: dict[str, torch.Tensor], directory: Path) -> None:
    """Refuse weights that do not fit the model config.json describes, saying which tensors differ."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    reshaped = sorted(n for n in set(expected) & set(state) if expected[n].shape != state[n].shape)
    if missing or unexpected or reshaped:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if reshaped:
            name = reshaped[0]
            problems.append(
                f"{len(reshaped)} with another shape (e.g. {name}: file {tuple(state[name].shape)}, "
                f"config {tuple(expected[name].shape)})"
            )
        raise CheckpointError(
            f"the weights in {directory}/{WEIGHTS_NAME} do not match its {CONFIG_NAME}: " + "; ".join(problems)
        )
