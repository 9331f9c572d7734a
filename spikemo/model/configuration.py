"""Configuration dataclasses: everything needed to rebuild a model, its loss and its training run.

Each config round-trips through JSON (`to_dict` -> json -> `from_dict`, spikemo.serialization); tuples come
back as tuples. The presets at the end carry the paper's MELD and IEMOCAP set-ups.
"""

from dataclasses import dataclass, field, replace

from spikemo.data.labels import IEMOCAP_LABELS, MELD_LABELS, MODALITIES
from spikemo.serialization import JsonDataclass

# DSWA's structures (spikemo.model.dswa, spikemo.model.conversation_dswa) and the LIF time constant (in steps) the
# two over simulated time default to; the conversation variant counts its time constant in turns instead.
DSWA_VARIANTS: tuple[str, ...] = ("reference", "residual", "conversation")
DEFAULT_LIF_TAU: dict[str, float] = {"reference": 10.0, "residual": 2.0}

# Default per-utterance feature sizes: the default text encoder's (all-MiniLM-L6-v2; all-mpnet-base-v2, under the
# shipped checkpoint, gives 768 and train.meld sets it from the encoder), openSMILE ComParE_2016 functionals,
# and the 16-d face-expression summary of the video pipeline.
DEFAULT_INPUT_DIMS: dict[str, int] = {"text": 384, "audio": 6373, "visual": 16}


@dataclass
class SpikEmoConfig(JsonDataclass):
    """The SpikEmo network (spikemo.model.modeling.SpikEmoModel): its inputs, layer sizes and spiking dynamics.

    The defaults are the paper's architecture: h=256, T=32, a 2-layer Spikformer in DSWA, 6-layer MultiAttn.
    """

    labels: tuple[str, ...] = MELD_LABELS  # the emotion classes, in the order of the model's outputs
    modalities: tuple[str, ...] = MODALITIES  # the modalities the model is built for, in text/audio/visual order
    input_dims: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_INPUT_DIMS))  # feature size per modality
    hidden_size: int = 256  # h, the width every modality is projected to (the paper's)
    max_speakers: int = 9  # speaker slots; later speakers share the last (MultiEMO's MELD files have 9)
    use_speaker_embedding: bool = True  # add a learned embedding of the speaker slot to each projected feature
    context_modalities: tuple[str, ...] = ("audio", "visual")  # those with a DialogueRNN context encoder (paper)
    use_dswa: bool = True  # weight utterances by DSWA (False: the "without DSWA" ablation)
    # DSWA's structure (spikemo.model.dswa): "reference" spike-encodes the input and ends with a LayerNorm, as the
    # paper's published code does, so E is made of spikes; "residual" feeds continuous features (E = F + spikes);
    # "conversation" (spikemo.model.conversation_dswa) runs its neurons in dialogue time, turn after turn.
    dswa_variant: str = "reference"
    # T, the time steps the spiking encoder runs for (the paper's, section IV-B); in the conversation variant, the
    # steps each turn is presented for.
    time_steps: int = 32
    spikformer_layers: int = 2  # Spikformer blocks in DSWA (the paper's)
    spikformer_heads: int = 8  # spiking self-attention heads per Spikformer block
    spikformer_mlp_ratio: int = 4  # a Spikformer MLP's hidden width, as a multiple of hidden_size
    # LIF membrane time constant of the Spikformer variants, decay 1/tau per step. None: the variant's own
    # (lif_time_constant), 10.0 for "reference" (the published code's) and 2.0 for "residual" (spikingjelly's
    # default, which the first checkpoints used); resolved when used, so replace(dswa_variant=...) follows it.
    lif_tau: float | None = None
    lif_threshold: float = 1.0  # LIF firing threshold (spikingjelly's default, also the published code's)
    # The conversation variant's neurons (n): as many as the hidden width h, so its read-out is square.
    conversation_neurons: int = 256
    # Their membrane time constant in turns (the LIF's tau is this times T): at 2, a potential keeps e^-0.5, about
    # 60 %, of its charge one turn later and 14 % four turns later, so several turns can add up before a spike
    # while a dialogue's start fades (MELD's dialogues run 9.6 turns on average).
    conversation_tau_turns: float = 2.0
    # How the conversation variant's read-out E shapes each utterance: "weight" (softmax(E) * F + F, as the paper's
    # DSWA), "features" (F + E) or "both".
    conversation_output: str = "weight"
    # False: the spike-free control, leaky integrators emitting a smooth step of their potential, never resetting.
    conversation_spiking: bool = True
    fusion_layers: int = 6  # MultiAttn cross-modal fusion layers (the paper's)
    fusion_heads: int = 4  # attention heads per fusion layer (the paper's)
    fusion_ffn: int = 1024  # feed-forward width inside each fusion layer (the paper's)
    dropout: float = 0.1  # in the projections, context encoders, fusion and classifier

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        self.modalities = tuple(self.modalities)
        self.context_modalities = tuple(self.context_modalities)
        self.input_dims = {str(m): int(d) for m, d in self.input_dims.items()}
        if self.dswa_variant not in DSWA_VARIANTS:
            raise ValueError(f"unknown dswa_variant {self.dswa_variant!r}; known: {', '.join(DSWA_VARIANTS)}")
        self.lif_threshold = float(self.lif_threshold)  # JSON may give ints
        self.conversation_tau_turns = float(self.conversation_tau_turns)
        if self.lif_tau is not None:
            self.lif_tau = float(self.lif_tau)
        if self.conversation_output not in ("weight", "features", "both"):
            raise ValueError(f"unknown conversation_output {self.conversation_output!r}; known: weight, features, both")
        if len(self.labels) < 2:
            raise ValueError(f"need at least two labels, got {self.labels}")
        for name, group in (("modalities", self.modalities), ("context_modalities", self.context_modalities)):
            unknown = [m for m in group if m not in MODALITIES]
            if unknown:
                raise ValueError(f"{name} has unknown modality {unknown}; known: {', '.join(MODALITIES)}")
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modalities must be a non-empty list without repeats, got {self.modalities}")
        if list(self.modalities) != [m for m in MODALITIES if m in self.modalities]:
            raise ValueError(f"modalities must be in the order {MODALITIES}, got {self.modalities}")
        missing = [m for m in self.modalities if self.input_dims.get(m, 0) <= 0]
        if missing:
            raise ValueError(f"input_dims needs a positive size for {missing}, got {self.input_dims}")
        for heads_name in ("spikformer_heads", "fusion_heads"):
            if self.hidden_size % getattr(self, heads_name):
                raise ValueError(f"hidden_size {self.hidden_size} is not divisible by {heads_name}")
        if min(self.time_steps, self.max_speakers, self.spikformer_layers, self.spikformer_mlp_ratio) < 1:
            raise ValueError("time_steps, max_speakers, spikformer_layers and spikformer_mlp_ratio must be >= 1")
        if self.lif_tau is not None and self.lif_tau <= 1.0:
            raise ValueError(f"lif_tau must be > 1 (LIF decay 1/tau), got {self.lif_tau}")
        if self.conversation_neurons < 1 or self.conversation_tau_turns <= 0:
            raise ValueError("conversation_neurons must be >= 1 and conversation_tau_turns > 0")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def tiny(self) -> "SpikEmoConfig":
        """The same model made tiny, to check a loop runs in seconds (--quick, the tests): h=16, T=4, one
        Spikformer block and one fusion layer of 2 heads, 16 conversation neurons; labels, modalities, inputs
        and the DSWA variant kept."""
        return replace(self, hidden_size=16, time_steps=4, spikformer_layers=1, spikformer_heads=2,
                       fusion_layers=1, fusion_heads=2, fusion_ffn=32, conversation_neurons=16)

    @property
    def lif_time_constant(self) -> float:
        """The LIF tau in steps: lif_tau, else the variant's own default; for the conversation variant,
        conversation_tau_turns turns of time_steps steps."""
        if self.dswa_variant == "conversation":
            return self.conversation_tau_turns * self.time_steps
        return self.lif_tau if self.lif_tau is not None else DEFAULT_LIF_TAU[self.dswa_variant]


@dataclass
class LossConfig(JsonDataclass):
    """L = CE + dice_weight * L_DSC + corr_weight * L_corr (each extra term switchable for ablations).

    L_corr is Soft-HGR summed over modality pairs and divided by the feature width h: unnormalised it grows
    with h until it drowns the classification signal, so the division and a small weight keep it an alignment
    regulariser whose gradient is on the scale of CE's (measured in train/results/README.md).
    """

    use_dice: bool = True  # include the self-adjusting dice loss L_DSC (False: the "without dice" ablation)
    dice_weight: float = 1.0  # weight of L_DSC
    dice_alpha: float = 1.5  # L_DSC's exponent on (1 - p), which down-weights easy examples (the paper's)
    dice_gamma: float = 0.5  # L_DSC's smoothing term, added to its numerator and denominator (the paper's)
    use_corr: bool = True  # include the Soft-HGR correlation loss L_corr (False: the "without L_corr" ablation)
    corr_weight: float = 0.1  # weight of L_corr, chosen here to put its gradient on the scale of CE's


@dataclass
class TrainConfig(JsonDataclass):
    """Adam with step learning-rate decay (lr x lr_decay every lr_decay_every epochs); batches of dialogues."""

    learning_rate: float = 1e-4  # Adam's initial learning rate (the paper's)
    betas: tuple[float, float] = (0.9, 0.99)  # Adam's moment decay rates (the paper's)
    weight_decay: float = 1e-5  # Adam's L2 weight decay (the paper's)
    lr_decay: float = 0.95  # the learning rate is multiplied by this every lr_decay_every epochs (the paper's)
    lr_decay_every: int = 10  # epochs between learning-rate decays (the paper's)
    epochs: int = 50  # most epochs to train; the epoch with the best dev score is kept (the paper's)
    batch_size: int = 64  # dialogues per step (the paper's MELD batch; IEMOCAP uses 32, see the presets)
    seed: int = 0  # initialisation, shuffling and dropout
    # Chance that a batch carrying several modalities trains with one of them (picked at random) left out, so
    # that each modality learns to decide alone too (not in the paper; 0 leaves every batch whole).
    modality_dropout: float = 0.0

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError(f"modality_dropout must be in [0, 1), got {self.modality_dropout}")

    def tiny(self) -> "TrainConfig":
        """Two epochs of batches of 4 dialogues: enough to check a loop runs (--quick, the tests)."""
        return replace(self, epochs=2, batch_size=4)


def meld_preset() -> tuple[SpikEmoConfig, LossConfig, TrainConfig]:
    """The paper's MELD set-up: 7 labels, all three modalities, batch of 64 dialogues."""
    return SpikEmoConfig(labels=MELD_LABELS), LossConfig(), TrainConfig(batch_size=64)


def iemocap_preset() -> tuple[SpikEmoConfig, LossConfig, TrainConfig]:
    """The paper's IEMOCAP set-up: 6 labels, two speakers per dialogue, batch of 32 dialogues."""
    return SpikEmoConfig(labels=IEMOCAP_LABELS), LossConfig(), TrainConfig(batch_size=32)
