"""SpikEmo network: shapes, padding, DSWA behaviour, spiking state, traces, config and input errors."""

import dataclasses
import itertools
import json

import pytest
import torch
from spikingjelly.activation_based import functional, neuron, surrogate

from spikemo.data.labels import IEMOCAP_LABELS, MELD_LABELS, MODALITIES
from spikemo.model.configuration import (
    DEFAULT_LIF_TAU,
    LossConfig,
    SpikEmoConfig,
    TrainConfig,
    iemocap_preset,
    meld_preset,
)
from spikemo.model.dialogue_rnn import DialogueContextEncoder, reverse_within_lengths
from spikemo.model.dswa import DSWA, SPIKFORMER_VARIANTS, NormLIF, masked_utterance_softmax
from spikemo.model.fusion import MultiAttnFusion
from spikemo.model.modeling import SpikEmoModel
from spikemo.model.neuron import LIFNeuron, lif_neuron, spikes_silenced
from tests.helpers import tiny_config

DIMS = {"text": 12, "audio": 20, "visual": 6}
SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(MODALITIES, r)]


def small_config(**overrides) -> SpikEmoConfig:
    """The tiny test config with two layers of each kind (these tests look at how layers interact), no dropout."""
    values = dict(
        input_dims=DIMS, hidden_size=32, spikformer_layers=2, spikformer_heads=4, spikformer_mlp_ratio=2,
        fusion_layers=2, fusion_ffn=64, dropout=0.0,
    )
    return tiny_config(**{**values, **overrides})


def make_inputs(lengths: list[int], max_length: int | None = None, modalities=MODALITIES, seed: int = 0):
    """Features, speakers and mask for dialogues of the given lengths; padding holds random junk."""
    generator = torch.Generator().manual_seed(seed)
    length = max_length or max(lengths)
    features = {m: torch.randn(len(lengths), length, DIMS[m], generator=generator) for m in modalities}
    speakers = torch.randint(0, 3, (len(lengths), length), generator=generator)
    mask = torch.arange(length) < torch.tensor(lengths)[:, None]
    return features, speakers, mask


def build(seed: int = 0, **overrides) -> SpikEmoModel:
    torch.manual_seed(seed)
    return SpikEmoModel(small_config(**overrides)).eval()


@pytest.mark.parametrize("subset", SUBSETS, ids=["+".join(s) for s in SUBSETS])
def test_any_subset_of_modalities_runs_with_the_right_shapes(subset):
    model = build()
    features, speakers, mask = make_inputs([5, 3], modalities=subset)
    out = model(features, speakers, mask)
    assert out.logits.shape == (2, 5, len(MELD_LABELS))
    assert set(out.fused) == set(subset) and set(out.dswa_weights) == set(subset)
    assert all(x.shape == (2, 5, 32) for x in out.fused.values())
    assert all(w.shape == (2, 5) for w in out.dswa_weights.values())
    assert out.spike_rates == {} and out.spikes == {}


def test_model_built_for_one_modality_has_no_other_branches():
    model = build(modalities=("text",), context_modalities=("audio", "visual"))
    assert set(model.projections) == {"text"} and len(model.context) == 0 and set(model.dswa) == {"text"}
    out = model(*make_inputs([4], modalities=("text",)))
    assert out.logits.shape == (1, 4, len(MELD_LABELS))


def test_padding_gives_no_nan_and_no_dswa_weight():
    model = build()
    features, speakers, mask = make_inputs([5, 3, 0])  # the third dialogue is empty: every key masked
    features["audio"][1, 3:] = float("nan")  # junk in padding must not leak
    out = model(features, speakers, mask, return_traces=True)
    tensors = [out.logits, *out.fused.values(), *out.dswa_weights.values(), *out.spike_rates.values()]
    assert all(torch.isfinite(t).all() for t in tensors)
    for weights in out.dswa_weights.values():
        assert torch.all(weights[~mask] == 0)
        assert torch.allclose(weights.sum(dim=1), torch.tensor([1.0, 1.0, 0.0]), atol=1e-5)
    for fused in out.fused.values():
        assert torch.all(fused[~mask] == 0)


def test_appending_padding_leaves_real_positions_unchanged():
    model = build()
    features, speakers, mask = make_inputs([5, 3])
    longer, longer_speakers, longer_mask = make_inputs([5, 3], max_length=9, seed=1)
    for m in MODALITIES:  # same real utterances, different junk and more of it after them
        longer[m][:, :5] = torch.where(mask[..., None], features[m], longer[m][:, :5])
    longer_speakers[:, :5] = torch.where(mask, speakers, longer_speakers[:, :5])
    with torch.inference_mode():
        short, long = model(features, speakers, mask), model(longer, longer_speakers, longer_mask)
    assert torch.allclose(short.logits[mask], long.logits[:, :5][mask], atol=1e-5)
    for m in MODALITIES:
        assert torch.allclose(short.fused[m][mask], long.fused[m][:, :5][mask], atol=1e-5)
        assert torch.allclose(short.dswa_weights[m], long.dswa_weights[m][:, :5], atol=1e-6)


@pytest.mark.parametrize("variant", SPIKFORMER_VARIANTS)
def test_dswa_weights_depend_on_non_negative_inputs(variant):
    """The published spiking step fired on x >= 0: after a ReLU every position spiked and weights were 1/L."""
    torch.manual_seed(0)
    dswa = DSWA(size=32, layers=2, heads=4, mlp_ratio=2, time_steps=16, tau=DEFAULT_LIF_TAU[variant],
                threshold=1.0, variant=variant).eval()
    mask = torch.ones(1, 6, dtype=torch.bool)
    first, second = torch.randn(1, 6, 32).relu(), torch.randn(1, 6, 32).relu()
    _, weights_a, spikes_a = dswa(first, mask)
    _, weights_b, _ = dswa(second, mask)
    assert weights_a.max() - weights_a.min() > 1e-3  # utterances get different weights (uniform = 1/6 each)
    assert (weights_a - weights_b).abs().max() > 1e-3  # and different inputs give different weights
    for spikes in spikes_a:  # the spiking layers themselves respond to the input, not only the residual
        rates = spikes.mean(dim=0)  # [B, L, h] firing rate per neuron
        assert 0 < rates.mean() < 1
        assert not torch.equal(rates[0, 0], rates[0, 1])


def reference_dswa(time_steps: int = 16, seed: int = 0) -> DSWA:
    torch.manual_seed(seed)
    return DSWA(size=32, layers=2, heads=4, mlp_ratio=2, time_steps=time_steps, tau=10.0, threshold=1.0).eval()


def test_silenced_spikes_leave_the_residual_variant_with_the_features_own_softmax():
    torch.manual_seed(0)
    dswa = DSWA(size=32, layers=2, heads=4, mlp_ratio=2, time_steps=8, tau=2.0, threshold=1.0, variant="residual")
    features, mask = torch.randn(2, 5, 32), torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    with spikes_silenced(dswa):
        _, weights, spikes = dswa.eval()(features, mask)
    assert all(torch.count_nonzero(s) == 0 for s in spikes)
    assert torch.allclose(weights, masked_utterance_softmax(features, mask).mean(dim=-1), atol=1e-6)
    _, weights_live, _ = dswa(features, mask)  # the neurons fire again once the block is left
    assert not torch.allclose(weights, weights_live)


def test_in_the_reference_variant_the_spikes_decide_the_weights():
    dswa = reference_dswa()
    features, mask = torch.randn(2, 6, 32), torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    _, live, spikes = dswa(features, mask)
    assert all(0 < s.mean() < 1 for s in spikes)
    with spikes_silenced(dswa):
        _, silenced, _ = dswa(features, mask)
    # Silenced, only the input's own spikes are left: E = LayerNorm(spike-encoded input) at every step.
    only_input = masked_utterance_softmax(dswa.output_norm(dswa.spike_input(features)), mask).mean(dim=-1)
    assert torch.allclose(silenced, only_input, atol=1e-6)
    assert (live - silenced).abs().max() > 1e-3
    # With tau = 10 the membranes need several steps to reach the threshold, so T changes the weights.
    _, at_two_steps, _ = dswa(features, mask, time_steps=2)
    assert (live - at_two_steps).abs().max() > 1e-3


def test_dswa_trace_records_attention_and_how_the_weights_form_over_time():
    dswa = reference_dswa(time_steps=6)
    features, mask = torch.randn(2, 5, 32), torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    _, weights, _ = dswa(features, mask)
    trace = dswa.trace(features, mask)
    assert len(trace.attention) == 2 and len(trace.block_spikes) == 2 and len(trace.firing_rates) == 2
    layer = trace.attention[0]
    assert layer.query.shape == layer.key.shape == layer.value.shape == (6, 2, 4, 5, 8)
    assert layer.coincidence.shape == (6, 2, 4, 5, 5) and layer.attention_spikes.shape == (6, 2, 5, 32)
    assert set(layer.query.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(layer.coincidence, layer.query @ layer.key.transpose(-2, -1))
    assert torch.all(layer.coincidence[:, 1, :, :, 3:] == 0)  # padded keys coincide with nothing
    assert set(trace.input.unique().tolist()) <= {0.0, 1.0}
    assert all(0 <= rate <= 1 for rates in trace.firing_rates for rate in rates.values())
    assert trace.weights_by_step.shape == (6, 2, 5)
    assert torch.allclose(trace.weights_by_step[-1], weights, atol=1e-6)
    assert torch.allclose(trace.weights_by_step.sum(dim=-1), torch.ones(6, 2), atol=1e-5)


def test_model_dswa_weights_vary_for_post_relu_audio_features():
    model = build()
    features, speakers, mask = make_inputs([6])
    features = {m: x.relu() for m, x in features.items()}
    weights = model(features, speakers, mask).dswa_weights
    for m in MODALITIES:
        assert weights[m].max() - weights[m].min() > 1e-3


def test_spiking_state_is_reset_after_every_forward():
    model = build()
    inputs = make_inputs([5, 3])
    with torch.inference_mode():
        first = model(*inputs, return_traces=True)
        second = model(*inputs, return_traces=True)
    assert torch.equal(first.logits, second.logits)
    assert all(torch.equal(first.spikes[k], second.spikes[k]) for k in first.spikes)
    lif_nodes = [m for m in model.modules() if isinstance(m, neuron.LIFNode)]
    assert lif_nodes and all(isinstance(n.v, float) and n.v == 0.0 for n in lif_nodes)
    # An inference-mode call must leave nothing behind that breaks a later training step.
    model.train()
    model(*inputs).logits.sum().backward()


@pytest.mark.parametrize("variant", SPIKFORMER_VARIANTS)
def test_gradients_reach_the_spiking_encoder_through_the_surrogate(variant):
    model = build(dswa_variant=variant, time_steps=16)
    model.train()
    out = model(*make_inputs([5, 3]))
    out.logits.sum().backward()
    first_unit = model.dswa["text"].encoder.blocks[0].attention.query_key_value.linear
    assert first_unit.weight.grad is not None and first_unit.weight.grad.abs().sum() > 0
    if variant == "reference":  # and through the spike-encoded input's Heaviside step to its LayerNorm
        assert model.dswa["text"].spike_input.norm.weight.grad.abs().sum() > 0


def test_traces_have_the_right_shapes_and_ranges():
    model = build(time_steps=5)
    features, speakers, mask = make_inputs([4, 2])
    out = model(features, speakers, mask, return_traces=True)
    expected = {f"{m}/layer{i}" for m in MODALITIES for i in range(2)}
    assert set(out.spike_rates) == expected and set(out.spikes) == expected
    for key in expected:
        rates, spikes = out.spike_rates[key], out.spikes[key]
        assert rates.shape == (5, 2, 4) and spikes.shape == (5, 2, 4, 32) and spikes.dtype == torch.uint8
        assert set(spikes.unique().tolist()) <= {0, 1}
        assert torch.all((rates >= 0) & (rates <= 1))
        assert torch.allclose(rates, spikes.float().mean(dim=-1))
        assert torch.all(spikes[:, ~mask] == 0)


def test_time_steps_override_changes_the_trace_length():
    model = build()
    out = model(*make_inputs([3]), return_traces=True, time_steps=7)
    assert out.spike_rates["text/layer0"].shape[0] == 7


def test_model_without_dswa_reports_no_weights():
    model = build(use_dswa=False)
    out = model(*make_inputs([3]), return_traces=True)
    assert out.dswa_weights == {} and out.spike_rates == {} and len(model.dswa) == 0


def test_skip_dswa_is_the_same_weights_without_the_dswa_step():
    model = build()
    without = SpikEmoModel(small_config(use_dswa=False)).eval()
    without.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("dswa.")})
    inputs = make_inputs([3, 5])
    skipped = model(*inputs, skip_dswa=True)
    assert torch.allclose(skipped.logits, without(*inputs).logits)
    assert skipped.dswa_weights == {}
    assert not torch.allclose(skipped.logits, model(*inputs).logits)


def test_missing_modality_is_skipped_not_zero_filled():
    torch.manual_seed(0)
    fusion = MultiAttnFusion(MODALITIES, size=16, layers=2, heads=2, ffn=32, dropout=0.0).eval()
    with torch.no_grad():  # any use of the text<-audio/visual attention would now turn the output into NaN
        for layer in fusion.layers:
            for p in layer["text"].attention.parameters():
                p.fill_(float("nan"))
    mask = torch.ones(1, 4, dtype=torch.bool)
    out = fusion({"text": torch.randn(1, 4, 16)}, mask)
    assert set(out) == {"text"} and torch.isfinite(out["text"]).all()
    with_audio = fusion({"text": torch.randn(1, 4, 16), "audio": torch.randn(1, 4, 16)}, mask)
    assert torch.isnan(with_audio["text"]).all()


@pytest.mark.parametrize("tau", [2.0, 3.0])
def test_lean_cpu_lif_matches_spikingjelly_lifnode(tau):
    stock = neuron.LIFNode(tau=tau, detach_reset=True, surrogate_function=surrogate.ATan(), step_mode="m")
    lean = lif_neuron(tau, 1.0)
    assert isinstance(lean, neuron.LIFNode) and isinstance(lean, LIFNeuron)
    torch.manual_seed(0)
    x = torch.randn(12, 3, 5, 16) * 1.5 + 0.5
    weights = torch.randn_like(x)
    results = []
    for node in (stock, lean):
        inputs = x.clone().requires_grad_()
        spikes = node(inputs)
        ((spikes * weights).sum() + (node.v * weights[0]).sum()).backward()
        results.append((spikes, node.v.detach(), inputs.grad))
        functional.reset_net(node)
    (stock_spikes, stock_v, stock_grad), (lean_spikes, lean_v, lean_grad) = results
    assert 0 < stock_spikes.mean() < 1
    assert torch.equal(stock_spikes, lean_spikes) and torch.equal(stock_v, lean_v)
    assert torch.allclose(stock_grad, lean_grad, atol=1e-6) and stock_grad.abs().sum() > 0


def test_grouped_spiking_unit_equals_separate_units():
    torch.manual_seed(0)
    grouped = NormLIF(8, 6, tau=2.0, threshold=1.0, groups=3)
    with torch.no_grad():
        grouped.norm_weight.uniform_(0.5, 2.0)
        grouped.norm_bias.uniform_(-0.5, 0.5)
    x = torch.randn(4, 2, 3, 8)
    together = grouped(x)
    for g in range(3):
        single = NormLIF(8, 6, tau=2.0, threshold=1.0)
        with torch.no_grad():
            single.linear.weight.copy_(grouped.linear.weight[6 * g : 6 * (g + 1)])
            single.linear.bias.copy_(grouped.linear.bias[6 * g : 6 * (g + 1)])
            single.norm_weight.copy_(grouped.norm_weight[g : g + 1])
            single.norm_bias.copy_(grouped.norm_bias[g : g + 1])
        assert torch.equal(single(x), together[..., 6 * g : 6 * (g + 1)])


def test_reverse_within_lengths_keeps_padding_in_place():
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    assert reverse_within_lengths(mask).tolist() == [[2, 1, 0, 3], [1, 0, 2, 3]]


def test_context_encoder_sees_both_directions_and_speakers():
    torch.manual_seed(0)
    encoder = DialogueContextEncoder(size=16, max_speakers=4, dropout=0.0).eval()
    x, speakers, mask = torch.randn(1, 5, 16), torch.tensor([[0, 1, 0, 1, 2]]), torch.ones(1, 5, dtype=torch.bool)
    base = encoder(x, speakers, mask)
    later_changed = x.clone()
    later_changed[0, 4] += 1.0
    assert not torch.allclose(base[0, 0], encoder(later_changed, speakers, mask)[0, 0])  # backward pass
    earlier_changed = x.clone()
    earlier_changed[0, 0] += 1.0
    assert not torch.allclose(base[0, 4], encoder(earlier_changed, speakers, mask)[0, 4])  # forward pass
    assert not torch.allclose(base, encoder(x, torch.tensor([[0, 0, 0, 0, 0]]), mask))


def test_configs_survive_a_json_round_trip():
    for config in (*meld_preset(), *iemocap_preset(), small_config(modalities=("text", "visual"))):
        restored = type(config).from_dict(json.loads(json.dumps(config.to_dict())))
        assert restored == config
    model_config = SpikEmoConfig.from_dict(json.loads(json.dumps(small_config().to_dict())))
    assert isinstance(model_config.labels, tuple) and isinstance(model_config.modalities, tuple)
    assert isinstance(TrainConfig.from_dict(json.loads(json.dumps(TrainConfig().to_dict()))).betas, tuple)
    assert isinstance(SpikEmoConfig.from_dict({"lif_tau": 2}).lif_tau, float)


def test_lif_tau_defaults_to_the_dswa_variant_own():
    assert SpikEmoConfig().dswa_variant == "reference" and SpikEmoConfig().lif_time_constant == 10.0
    assert SpikEmoConfig(dswa_variant="residual").lif_time_constant == 2.0
    assert SpikEmoConfig(dswa_variant="residual", lif_tau=4).lif_time_constant == 4.0
    restored = SpikEmoConfig.from_dict(json.loads(json.dumps(SpikEmoConfig(dswa_variant="residual").to_dict())))
    assert (restored.dswa_variant, restored.lif_time_constant) == ("residual", 2.0)
    # The variant's default is resolved where it is used, so replace() follows a changed variant.
    assert dataclasses.replace(SpikEmoConfig(), dswa_variant="residual").lif_time_constant == 2.0
    assert dataclasses.replace(SpikEmoConfig(lif_tau=4), dswa_variant="residual").lif_time_constant == 4.0
    conversation = SpikEmoConfig(dswa_variant="conversation", time_steps=8, conversation_tau_turns=3)
    assert conversation.lif_time_constant == 24.0


def test_tiny_keeps_what_the_model_is_and_shrinks_its_sizes():
    config = SpikEmoConfig(labels=IEMOCAP_LABELS, modalities=("text",), dswa_variant="residual").tiny()
    assert (config.labels, config.modalities, config.dswa_variant) == (IEMOCAP_LABELS, ("text",), "residual")
    assert (config.hidden_size, config.time_steps, config.spikformer_layers, config.fusion_layers) == (16, 4, 1, 1)
    assert (TrainConfig(seed=3).tiny().epochs, TrainConfig(seed=3).tiny().seed) == (2, 3)


def test_presets_carry_the_paper_values():
    model_config, loss_config, train_config = meld_preset()
    assert model_config.labels == MELD_LABELS and train_config.batch_size == 64
    assert (model_config.time_steps, model_config.spikformer_layers, model_config.fusion_layers) == (32, 2, 6)
    assert (model_config.hidden_size, model_config.fusion_heads, model_config.fusion_ffn) == (256, 4, 1024)
    assert (train_config.learning_rate, train_config.betas, train_config.weight_decay) == (1e-4, (0.9, 0.99), 1e-5)
    assert (train_config.lr_decay, train_config.lr_decay_every, train_config.epochs) == (0.95, 10, 50)
    assert (loss_config.dice_alpha, loss_config.dice_gamma) == (1.5, 0.5)
    model_config, _, train_config = iemocap_preset()
    assert model_config.labels == IEMOCAP_LABELS and train_config.batch_size == 32


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"modalities": ("text", "smell")}, "unknown modality"),
        ({"modalities": ("audio", "text")}, "order"),
        ({"hidden_size": 30}, "divisible"),
        ({"lif_tau": 1.0}, "lif_tau"),
        ({"dswa_variant": "spiky"}, "dswa_variant"),
        ({"input_dims": {"text": 12}}, "input_dims"),
    ],
)
def test_bad_configs_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        small_config(**overrides)
    with pytest.raises(ValueError, match="unknown"):
        LossConfig.from_dict({"dice_wieght": 1.0})


def test_bad_inputs_get_clear_errors():
    model = build(modalities=("text", "audio"))
    features, speakers, mask = make_inputs([4, 2], modalities=("text", "audio"))
    with pytest.raises(ValueError, match="cannot take visual"):
        model({**features, "visual": torch.randn(2, 4, 6)}, speakers, mask)
    with pytest.raises(ValueError, match="no features"):
        model({}, speakers, mask)
    with pytest.raises(ValueError, match=r"audio features must be \[B, L, D\] = \[2, 4, 20\]"):
        model({**features, "audio": torch.randn(2, 4, 19)}, speakers, mask)
    with pytest.raises(ValueError, match="padding after"):
        model(features, speakers, mask.flip(1))
    with pytest.raises(ValueError, match="speakers"):
        model(features, speakers[:, :3], mask)
    broken = features["text"].clone()
    broken[0, 1, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinity"):
        model({**features, "text": broken}, speakers, mask)
