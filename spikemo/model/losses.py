"""SpikEmo's training objective: L = CE + dice_weight * L_DSC + corr_weight * L_corr.

All three terms back-propagate (the published code computed the last two and never trained on them);
each extra term can be switched off for ablations, and a switched-off term is an exact zero outside the graph.
"""

from itertools import combinations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikemo.model.configuration import LossConfig
from spikemo.model.modeling import SpikEmoOutput


def self_adjusting_dice_loss(logits: Tensor, targets: Tensor, alpha: float = 1.5, gamma: float = 0.5) -> Tensor:
    """Self-adjusting dice loss (Li et al., 2020) on the gold-class probability p.

    logits [N, C], targets [N] long -> scalar mean over N of
    1 - (2 (1-p)^alpha p + gamma) / ((1-p)^alpha p + 1 + gamma).
    The (1-p)^alpha factor down-weights easy examples, which is why it helps MELD's rare classes.
    """
    p = logits.softmax(dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
    weighted = (1 - p).pow(alpha) * p
    return (1 - (2 * weighted + gamma) / (weighted + 1 + gamma)).mean()


def soft_hgr_loss(f: Tensor, g: Tensor) -> Tensor:
    """Negative Soft-HGR maximal correlation (Wang et al., 2019) between paired features.

    f, g [N, h] -> scalar -E[f^T g] + 1/2 tr(cov(f) cov(g)), with f and g centred over the N samples and
    cov the [h, h] feature covariance (unbiased, N - 1). Needs N >= 2.
    """
    if f.shape != g.shape or f.dim() != 2 or f.shape[0] < 2:
        raise ValueError(f"soft_hgr_loss needs two [N, h] tensors with N >= 2, got {tuple(f.shape)}, {tuple(g.shape)}")
    f = f - f.mean(dim=0)
    g = g - g.mean(dim=0)
    n = f.shape[0]
    inner = (f * g).sum(dim=1).mean()
    cov_f = f.T @ f / (n - 1)
    cov_g = g.T @ g / (n - 1)
    return -inner + 0.5 * (cov_f * cov_g).sum()  # tr(A B) = sum(A * B) for symmetric A, B


class SpikEmoLoss(nn.Module):
    """The combined loss over a padded batch.

    forward(output, labels [B, L] long, mask [B, L] bool) -> {"loss", "ce", "dice", "corr", "corr_pairs"}.
    CE and dice use positions where mask is True and the label is >= 0 (unlabelled utterances are -1).
    corr sums Soft-HGR over every pair of fused modalities present, on all real utterances, divided by the
    feature width h (a per-dimension value, so corr_weight does not depend on hidden_size; see LossConfig);
    "corr_pairs" counts those pairs, so 0 flags the term as inert (fewer than two modalities, or fewer than
    two real utterances), in which case corr is an exact zero.
    """

    def __init__(self, config: LossConfig):
        super().__init__()
        self.config = config

    def forward(self, output: SpikEmoOutput, labels: Tensor, mask: Tensor) -> dict[str, Tensor]:
        logits = output.logits
        mask = mask.bool()
        zero = logits.new_zeros(())
        labelled = mask & (labels >= 0)
        if labelled.any():
            gold_logits, gold = logits[labelled], labels[labelled]
            ce = F.cross_entropy(gold_logits, gold)
        else:  # nothing to learn from in this batch: a zero that still lets backward() run
            gold_logits, gold = None, None
            ce = logits.sum() * 0.0
        dice = zero
        if self.config.use_dice and gold is not None:
            dice = self_adjusting_dice_loss(gold_logits, gold, self.config.dice_alpha, self.config.dice_gamma)
        corr, pairs = zero, 0
        if self.config.use_corr and int(mask.sum()) >= 2:
            streams = [x[mask] for x in output.fused.values()]
            for f, g in combinations(streams, 2):
                corr = corr + soft_hgr_loss(f, g) / f.shape[-1]
                pairs += 1
        loss = ce + self.config.dice_weight * dice + self.config.corr_weight * corr
        return {"loss": loss, "ce": ce, "dice": dice, "corr": corr, "corr_pairs": torch.tensor(pairs)}
