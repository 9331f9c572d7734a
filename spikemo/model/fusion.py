"""MultiAttn fusion: each modality stream queries the others with cross-attention, layer after layer.

Text attends to (audio, visual), audio to (text, visual), visual to (text, audio), in that order, each
attention followed by residual + LayerNorm, then a feed-forward block with residual + LayerNorm. All streams
of a layer read the previous layer's streams. A modality absent from the input is skipped, never zero-filled
into the attention, so a model built for three modalities also runs on one or two.
"""

from torch import Tensor, nn

from spikemo.data.labels import MODALITIES


def attention_partners(modality: str, modalities: tuple[str, ...]) -> list[str]:
    """The other modalities `modality` attends to, in the canonical order (text, audio, visual)."""
    return [m for m in MODALITIES if m != modality and m in modalities]


class CrossModalLayer(nn.Module):
    """One MultiAttn layer for one stream: cross-attention to each partner in turn, then a feed-forward."""

    def __init__(self, partners: list[str], size: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.attention = nn.ModuleDict(
            {p: nn.MultiheadAttention(size, heads, dropout=dropout, batch_first=True) for p in partners}
        )
        self.attention_norm = nn.ModuleDict({p: nn.LayerNorm(size) for p in partners})
        self.feed_forward = nn.Sequential(nn.Linear(size, ffn), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn, size))
        self.feed_forward_norm = nn.LayerNorm(size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, others: dict[str, Tensor], key_padding_mask: Tensor) -> Tensor:
        """x [B, L, h]; others: partner -> [B, L, h] (present partners only); key_padding_mask [B, L], True = pad."""
        for partner, attention in self.attention.items():
            if partner not in others:
                continue
            attended, _ = attention(x, others[partner], others[partner], key_padding_mask=key_padding_mask,
                                    need_weights=False)
            x = self.attention_norm[partner](x + self.dropout(attended))
        return self.feed_forward_norm(x + self.dropout(self.feed_forward(x)))


class MultiAttnFusion(nn.Module):
    """`layers` rounds of cross-modal attention over the streams of the modalities present.

    forward: streams modality -> [B, L, h] (any non-empty subset of the built modalities), mask [B, L] bool
    -> the fused streams, same keys and shapes.
    """

    def __init__(self, modalities: tuple[str, ...], size: int, layers: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {m: CrossModalLayer(attention_partners(m, modalities), size, heads, ffn, dropout) for m in modalities}
            )
            for _ in range(layers)
        )

    def forward(self, streams: dict[str, Tensor], mask: Tensor) -> dict[str, Tensor]:
        # A dialogue with no real utterance would mask every key (softmax over nothing = NaN): let it attend
        # to its padding instead; its outputs are discarded downstream.
        empty = ~mask.any(dim=1, keepdim=True)
        key_padding_mask = ~mask & ~empty
        for layer in self.layers:
            streams = {
                m: layer[m](x, {p: y for p, y in streams.items() if p != m}, key_padding_mask)
                for m, x in streams.items()
            }
        return streams
