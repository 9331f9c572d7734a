"""SpikEmo's loss: dice and Soft-HGR formulas, masking, switches, and gradients through every term."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spikemo.model.configuration import LossConfig
from spikemo.model.losses import SpikEmoLoss, self_adjusting_dice_loss, soft_hgr_loss
from spikemo.model.modeling import SpikEmoModel
from tests.helpers import tiny_config


def logits_with_gold_probability(p: float) -> torch.Tensor:
    """Two-class logits whose class-0 softmax probability is p."""
    return torch.tensor([[math.log(p), math.log(1 - p)]])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dice_loss_matches_the_formula(p):
    weighted = (1 - p) ** 1.5 * p
    expected = 1 - (2 * weighted + 0.5) / (weighted + 1 + 0.5)
    loss = self_adjusting_dice_loss(logits_with_gold_probability(p), torch.tensor([0]), alpha=1.5, gamma=0.5)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_dice_loss_known_values_and_mean():
    # p = 0.5: (0.5)^2.5 = 0.1767767; 1 - (0.3535534 + 0.5) / (0.1767767 + 1.5) = 0.4909558
    half = self_adjusting_dice_loss(logits_with_gold_probability(0.5), torch.tensor([0]))
    assert half.item() == pytest.approx(0.4909558, abs=1e-6)
    # a certain, correct prediction leaves only the smoothing: 1 - 0.5 / 1.5 = 2/3
    certain = self_adjusting_dice_loss(torch.tensor([[30.0, -30.0]]), torch.tensor([0]))
    assert certain.item() == pytest.approx(2 / 3, abs=1e-6)
    both = self_adjusting_dice_loss(torch.tensor([[0.0, 0.0], [30.0, -30.0]]), torch.tensor([1, 0]))
    assert both.item() == pytest.approx((0.4909558 + 2 / 3) / 2, abs=1e-6)


def test_soft_hgr_matches_a_hand_computation_with_feature_covariance():
    rng = np.random.default_rng(0)
    f, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))  # N=5 samples, h=3 features: cov is [3, 3]
    fc, gc = f - f.mean(axis=0), g - g.mean(axis=0)
    expected = -np.mean(np.sum(fc * gc, axis=1)) + 0.5 * np.trace(np.cov(f, rowvar=False) @ np.cov(g, rowvar=False))
    got = soft_hgr_loss(torch.tensor(f), torch.tensor(g))
    assert got.item() == pytest.approx(expected, rel=1e-9)


def test_soft_hgr_is_centred():
    torch.manual_seed(0)
    f, g = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)
    shifted = soft_hgr_loss(f + torch.tensor([3.0, -2.0, 5.0, 1.0], dtype=torch.float64), g + 7.0)
    assert torch.allclose(soft_hgr_loss(f, g), shifted)


def test_soft_hgr_rewards_correlated_features():
    torch.manual_seed(0)
    f = torch.randn(64, 4)
    assert soft_hgr_loss(f, f * 0.5) < soft_hgr_loss(f, torch.randn(64, 4) * 0.5)


def test_soft_hgr_needs_two_samples():
    with pytest.raises(ValueError, match="N >= 2"):
        soft_hgr_loss(torch.randn(1, 4), torch.randn(1, 4))


def tiny_model(modalities=("text", "audio", "visual")) -> SpikEmoModel:
    torch.manual_seed(0)
    config = tiny_config(
        modalities, input_dims={"text": 10, "audio": 12, "visual": 6}, spikformer_mlp_ratio=2, dropout=0.0
    )
    return SpikEmoModel(config)


def batch(model: SpikEmoModel):
    torch.manual_seed(1)
    dims = model.config.input_dims
    features = {m: torch.randn(2, 5, dims[m]) for m in model.config.modalities}
    speakers = torch.randint(0, 2, (2, 5))
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    labels = torch.tensor([[0, 1, 2, -1, 4], [5, 6, 0, 3, 3]])  # -1: unlabelled; row 1 ends in padding
    return features, speakers, mask, labels


@pytest.mark.parametrize("term", ["ce", "dice", "corr"])
def test_each_term_alone_trains_the_model(term):
    model = tiny_model()
    features, speakers, mask, labels = batch(model)
    losses = SpikEmoLoss(LossConfig())(model(features, speakers, mask), labels, mask)
    losses[term].backward()
    grads = {name: p.grad for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(name.startswith("projections.") for name in grads)  # all the way back to the input projections
    assert any(name.startswith("fusion.") for name in grads)


def test_total_is_the_weighted_sum_and_masks_are_respected():
    model = tiny_model()
    features, speakers, mask, labels = batch(model)
    config = LossConfig(dice_weight=0.7, corr_weight=0.2)
    output = model(features, speakers, mask)
    losses = SpikEmoLoss(config)(output, labels, mask)
    assert torch.allclose(losses["loss"], losses["ce"] + 0.7 * losses["dice"] + 0.2 * losses["corr"])
    labelled = mask & (labels >= 0)
    assert torch.allclose(losses["ce"], F.cross_entropy(output.logits[labelled], labels[labelled]))
    assert torch.allclose(losses["dice"], self_adjusting_dice_loss(output.logits[labelled], labels[labelled]))
    h = model.config.hidden_size
    text, audio, visual = (output.fused[m][mask] for m in ("text", "audio", "visual"))
    pairs = soft_hgr_loss(text, audio) + soft_hgr_loss(text, visual) + soft_hgr_loss(audio, visual)
    assert torch.allclose(losses["corr"], pairs / h) and losses["corr_pairs"].item() == 3


def test_unlabelled_and_padded_positions_get_no_gradient():
    model = tiny_model()
    features, speakers, mask, labels = batch(model)
    output = model(features, speakers, mask)
    output.logits.retain_grad()
    SpikEmoLoss(LossConfig(use_corr=False))(output, labels, mask)["loss"].backward()
    ignored = ~(mask & (labels >= 0))
    assert torch.all(output.logits.grad[ignored] == 0) and output.logits.grad[~ignored].abs().sum() > 0


def test_disabled_terms_are_exact_zeros_outside_the_graph():
    model = tiny_model()
    features, speakers, mask, labels = batch(model)
    losses = SpikEmoLoss(LossConfig(use_dice=False, use_corr=False))(model(features, speakers, mask), labels, mask)
    for term in ("dice", "corr"):
        assert losses[term].item() == 0.0 and not losses[term].requires_grad
    assert torch.equal(losses["loss"], losses["ce"])


def test_correlation_is_inert_with_one_modality():
    model = tiny_model(modalities=("text",))
    features, speakers, mask, labels = batch(model)
    losses = SpikEmoLoss(LossConfig())(model(features, speakers, mask), labels, mask)
    assert losses["corr_pairs"].item() == 0 and losses["corr"].item() == 0.0 and not losses["corr"].requires_grad
    losses["loss"].backward()


def test_a_batch_without_labels_still_backpropagates_a_zero():
    model = tiny_model()
    features, speakers, mask, labels = batch(model)
    losses = SpikEmoLoss(LossConfig(use_corr=False))(model(features, speakers, mask), torch.full_like(labels, -1), mask)
    assert losses["loss"].item() == 0.0
    losses["loss"].backward()
