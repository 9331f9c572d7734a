"""spikemo.viz.ssa_teaching (spiking self-attention of one turn, on a tiny random model), its figures in
spikemo.viz.ssa_plots, and the Learn tab's handler that shows them."""

from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from demo import AppConfig
from demo.state import AppState
from demo.tabs import learn as learn_module
from demo.tabs.learn import LearnTab
from demo.tabs.learn_views import YOUR_ANALYSIS, settling_step
from spikemo.data.batching import collate_conversations
from spikemo.data.conversation import Conversation, Utterance
from spikemo.errors import InputError
from spikemo.model.modeling import SpikEmoModel
from spikemo.viz import ssa_plots
from spikemo.viz.conversation_teaching import trace_conversation_neurons
from spikemo.viz.ssa_teaching import RATE_NAMES, TurnAttentionTrace, trace_turn_attention
from tests.helpers import make_test_checkpoint, tiny_config

LAYERS, HEADS, SIZE, STEPS, TURNS = 2, 2, 16, 4, 5


def _model(variant: str = "reference", use_dswa: bool = True) -> SpikEmoModel:
    torch.manual_seed(0)
    config = tiny_config(("text",), spikformer_layers=LAYERS, dswa_variant=variant, use_dswa=use_dswa)
    return SpikEmoModel(config).eval()


def _conversation(length: int = TURNS) -> Conversation:
    rng = np.random.default_rng(3)
    return Conversation("c", [
        Utterance("AB"[i % 2], f"t{i}", features={"text": rng.standard_normal(384).astype(np.float32)})
        for i in range(length)
    ])


def _is_binary(array: np.ndarray) -> bool:
    return bool(np.isin(array, (0.0, 1.0)).all())


@pytest.fixture(scope="module")
def trace() -> TurnAttentionTrace:
    return trace_turn_attention(_model(), _conversation(), "text", turn=2, head=1)


def test_arrays_have_the_documented_shapes_and_spikes_are_0_or_1(trace):
    d = SIZE // HEADS
    assert (trace.layers, trace.heads, trace.time_steps, trace.num_turns) == (LAYERS, HEADS, STEPS, TURNS)
    assert (trace.modality, trace.turn, trace.head) == ("text", 2, 1)
    for layer in range(LAYERS):
        for spikes in (trace.query[layer], trace.key[layer], trace.value[layer]):
            assert spikes.shape == (STEPS, d) and _is_binary(spikes)
        assert trace.attention_spikes[layer].shape == (STEPS, SIZE) and _is_binary(trace.attention_spikes[layer])
        assert trace.coincidence[layer].shape == (HEADS, TURNS, TURNS)
        assert trace.turn_coincidence[layer].shape == (STEPS, TURNS)
        assert list(trace.firing_rates[layer]) == list(RATE_NAMES)
        assert all(0.0 <= rate <= 1.0 for rate in trace.firing_rates[layer].values())
    assert trace.weights_by_step.shape == (STEPS, TURNS)
    np.testing.assert_allclose(trace.weights_by_step.sum(axis=1), 1.0, atol=1e-5)


def test_coincidence_counts_query_and_key_neurons_firing_together(trace):
    for layer in range(LAYERS):
        per_step = trace.turn_coincidence[layer]
        np.testing.assert_array_equal(per_step, np.round(per_step))  # counts of neurons
        # The turn against itself: its own query and key spikes, multiplied neuron by neuron and summed.
        np.testing.assert_array_equal(per_step[:, trace.turn], (trace.query[layer] * trace.key[layer]).sum(axis=1))
        np.testing.assert_allclose(trace.coincidence[layer][trace.head, trace.turn], per_step.mean(axis=0))


def test_coincidence_is_q_k_transposed_of_the_model_trace(trace):
    model, conversation = _model(), _conversation()
    batch = collate_conversations([conversation], ("text",), model.config.labels)
    with torch.no_grad():
        features = model.dswa_inputs(batch.features, batch.speakers, batch.mask)["text"]
    full = model.dswa["text"].trace(features, batch.mask)
    for layer, recorded in enumerate(full.attention):
        q, k = recorded.query[:, 0].numpy(), recorded.key[:, 0].numpy()  # [T, H, L, d]
        expected = np.einsum("thid,thjd->thij", q, k)
        np.testing.assert_allclose(trace.coincidence[layer], expected.mean(axis=0), atol=1e-5)
        np.testing.assert_array_equal(trace.query[layer], q[:, trace.head, trace.turn])
        np.testing.assert_allclose(trace.firing_rates[layer]["query"], q.mean(), atol=1e-6)


@pytest.mark.parametrize("variant", ["reference", "residual"])
def test_last_step_weights_are_the_models_dswa_weights(variant):
    model, conversation = _model(variant), _conversation()
    traced = trace_turn_attention(model, conversation, "text", turn=0)
    batch = collate_conversations([conversation], ("text",), model.config.labels)
    with torch.no_grad():
        weights = model(batch.features, batch.speakers, batch.mask).dswa_weights["text"][0].numpy()
    np.testing.assert_allclose(traced.weights_by_step[-1], weights, atol=1e-5)


@pytest.mark.parametrize(("turn", "head", "message"), [
    (TURNS, 0, f"turn {TURNS + 1} does not exist: the conversation has {TURNS} turns"),
    (-1, 0, "turn 0 does not exist"),
    (0, HEADS, f"head {HEADS + 1} does not exist: the model has {HEADS} attention heads"),
])
def test_a_turn_or_head_out_of_range_is_refused(turn, head, message):
    with pytest.raises(InputError, match=message):
        trace_turn_attention(_model(), _conversation(), "text", turn, head)


def test_a_model_without_dswa_or_a_conversation_without_features_is_refused():
    with pytest.raises(InputError, match="trained without DSWA"):
        trace_turn_attention(_model(use_dswa=False), _conversation(), "text", 0)
    with pytest.raises(InputError, match="conversation time"):
        trace_turn_attention(_model("conversation"), _conversation(), "text", 0)
    with pytest.raises(InputError, match="no audio stream"):
        trace_turn_attention(_model(), _conversation(), "audio", 0)
    bare = Conversation("c", [Utterance("A", "hi")])
    with pytest.raises(InputError, match="no text features"):
        trace_turn_attention(_model(), bare, "text", 0)


def test_each_figure_has_its_panels(trace):
    figures = {
        "rasters": (ssa_plots.plot_qkv_rasters(trace), 3 * LAYERS),
        "coincidence": (ssa_plots.plot_coincidence(trace), 4 * LAYERS),  # per layer: map, strip, two colour bars
        "output": (ssa_plots.plot_attention_output(trace), LAYERS + 1),
        "weights": (ssa_plots.plot_weights_by_step(trace), 1),
    }
    for name, (figure, axes) in figures.items():
        assert isinstance(figure, Figure), name
        assert len(figure.axes) == axes, name
    maps = [axes for axes in figures["coincidence"][0].axes if axes.get_ylabel() == "query turn (looks)"]
    assert len(maps) == LAYERS  # one large map per layer: the picked head's
    for layer, axes in enumerate(maps):
        np.testing.assert_allclose(axes.get_images()[0].get_array(), trace.coincidence[layer][trace.head])
        assert [label.get_text() for label in axes.get_yticklabels()] == [str(i + 1) for i in range(TURNS)]
    named = ssa_plots.plot_coincidence(trace, [f"{i + 1} A" for i in range(TURNS)])
    assert [label.get_text() for label in named.axes[0].get_xticklabels()][:2] == ["1 A", "2 A"]
    lines = figures["weights"][0].axes[0].get_lines()
    np.testing.assert_allclose(lines[trace.turn].get_ydata(), trace.weights_by_step[:, trace.turn] * TURNS)


@pytest.fixture(scope="module")
def app_state(tmp_path_factory) -> AppState:
    return AppState(AppConfig(checkpoint_dir=make_test_checkpoint(tmp_path_factory.mktemp("ckpt"), ("text",))))


def test_the_learn_tab_shows_a_turns_spiking_attention(app_state, monkeypatch):
    conversation = _conversation()
    conversation.utterances[-1].speaker = "Bo*b"
    # The example's analysis stands in for the pipeline (Whisper and the extractors are tested elsewhere).
    monkeypatch.setattr(app_state, "example_analysis",
                        lambda example, progress=None: SimpleNamespace(conversation=conversation))
    learn, name = LearnTab(app_state), app_state.examples[0].name
    view = learn.turn_attention(name, "text", 99, 2)  # a turn past the end: the last turn
    assert view.attention_turn["value"] == TURNS and view.attention_turn["maximum"] == TURNS
    assert view.attention_head["value"] == 2 and view.attention_head["maximum"] == 2
    assert view.attention_reading.startswith(f"**Turn {TURNS} of {TURNS}** (Bo\\*b: t4), text stream, head 2 of 2")
    assert all(isinstance(figure, Figure) for figure in view[3:])
    with pytest.raises(gr.Error, match="head 3 does not exist"):
        learn.turn_attention(name, "text", 1, 3)
    with pytest.raises(gr.Error, match="bundled example or your analysis"):
        learn.turn_attention("nope", "text", 1, 1)
    # the visitor's own analysis: its turns, its features
    mine = SimpleNamespace(conversation=_conversation(3), video_name="mine.mp4")
    view = learn.turn_attention(YOUR_ANALYSIS, "text", 3, 1, mine)
    assert view.attention_turn["maximum"] == 3 and view.attention_reading.startswith("**Turn 3 of 3**")
    with pytest.raises(gr.Error, match="Analyse a video in the Analyse tab first"):
        learn.turn_attention(YOUR_ANALYSIS, "text", 1, 1, None)


def test_the_learn_tab_shows_neurons_across_the_dialogue_only_where_they_carry_over(app_state, monkeypatch):
    learn, name = LearnTab(app_state), app_state.examples[0].name
    figure, reading = learn.conversation_neurons(name, "text")  # the test checkpoint's variant is not conversation
    assert isinstance(figure, Figure) and f"is the `{learn.dswa_variant()}` variant" in reading
    # a conversation-time checkpoint: the real trace of such a model, on the visitor's analysis
    model = _model("conversation")
    monkeypatch.setattr(LearnTab, "dswa_variant", lambda self: "conversation")
    monkeypatch.setattr(learn_module, "run_conversation_neurons",
                        lambda setup, conversation, modality: trace_conversation_neurons(model, conversation, modality))
    mine = SimpleNamespace(conversation=_conversation(5), video_name="mine.mp4")
    figure, reading = learn.conversation_neurons(YOUR_ANALYSIS, "text", mine)
    assert len(figure.axes) == 3 and reading.startswith("5 turns of your analysis of mine\\.mp4, text stream")


def test_the_learn_tab_says_when_there_is_no_checkpoint(tmp_path):
    state = AppState(AppConfig(checkpoint_dir=tmp_path / "nowhere"))
    with pytest.raises(gr.Error, match="no checkpoint folder"):
        LearnTab(state).turn_attention(state.examples[0].name, "text", 1, 1)


def test_settling_step():
    assert settling_step(np.array([2.0, 1.5, 1.02, 0.99, 1.0])) == 3
    assert settling_step(np.array([1.0, 1.0])) == 1
    assert settling_step(np.array([3.0, 1.0])) == 2
