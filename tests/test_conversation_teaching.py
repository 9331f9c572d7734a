"""The conversation-time DSWA's neurons shown across a dialogue: the trace the Learn tab draws, and its figure."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from spikemo.data.batching import collate_conversations
from spikemo.errors import InputError
from spikemo.viz import ssa_plots
from spikemo.viz.conversation_teaching import trace_conversation_neurons
from tests.test_ssa_teaching import _conversation, _model

TURNS = 7


@pytest.fixture(scope="module")
def model():
    return _model("conversation")


def test_the_trace_is_the_modules_own_membrane_and_spikes_in_conversation_time(model):
    conversation = _conversation(TURNS)
    trace = trace_conversation_neurons(model, conversation, "text", shown=4)
    dswa, steps = model.dswa["text"], model.dswa["text"].time_steps
    batch = collate_conversations([conversation], ["text"], model.config.labels)
    with torch.no_grad():
        inputs = model.dswa_inputs(batch.features, batch.speakers, batch.mask)["text"]
        membrane = dswa.membrane(inputs, batch.mask)[:, 0]  # [k, L, n]
    assert trace.membrane.shape == trace.spikes.shape == (TURNS * steps, 4) and trace.num_turns == TURNS
    for column, neuron in enumerate(trace.neurons):  # turn i's k steps follow turn i - 1's
        np.testing.assert_allclose(trace.membrane[:, column], membrane[:, :, neuron].T.reshape(-1), atol=1e-6)
    fired = trace.spikes > 0.5
    assert np.all(trace.membrane[fired] >= trace.threshold - 1e-6)  # a spike only where the potential reached it
    assert np.all(trace.membrane[~fired] < trace.threshold + 1e-6)
    assert list(trace.turns_fired()) == sorted(trace.turns_fired(), reverse=True)  # the busiest neurons first
    assert trace.weights.shape == (TURNS,) and trace.weights.sum() == pytest.approx(1.0, abs=1e-5)


def test_the_figure_runs_in_conversation_time(model):
    trace = trace_conversation_neurons(model, _conversation(TURNS), "text", shown=3)
    figure = ssa_plots.plot_conversation_neurons(trace, [f"{i + 1} A" for i in range(TURNS)])
    assert isinstance(figure, Figure) and len(figure.axes) == 3
    membrane, raster, weights = figure.axes
    assert len(membrane.get_lines()) == 3 + 1 + (TURNS - 1)  # a line per neuron, the threshold, turn boundaries
    assert len(raster.collections[0].get_offsets()) == int((trace.spikes > 0.5).sum())
    assert [label.get_text() for label in weights.get_xticklabels()][:2] == ["1 A", "2 A"]
    assert membrane.get_ylim()[1] > trace.threshold


def test_other_variants_and_missing_features_are_refused():
    with pytest.raises(InputError, match="do not carry from turn to turn"):
        trace_conversation_neurons(_model("residual"), _conversation(3), "text")
    with pytest.raises(InputError, match="no audio features"):
        trace_conversation_neurons(_model("conversation"), _conversation(3), "audio")


def test_the_analyse_tab_draws_a_conversation_time_raster_along_the_dialogue():
    from types import SimpleNamespace

    from demo.tabs.analyse_views import spike_figures

    spikes = (np.random.default_rng(2).random((4, 3, 10)) < 0.4).astype(np.uint8)  # [L, T, h]
    turns = [SimpleNamespace(prediction=SimpleNamespace(spike_rates={"text/layer0": [0.1, 0.2, 0.3]}))] * 4
    analysis = SimpleNamespace(conversation=SimpleNamespace(utterances=turns), spikes={"text/layer0": spikes},
                               conversation_time=True)
    raster, _ = spike_figures(analysis, 1, "text/layer0")
    assert len(raster.axes[0].collections[0].get_offsets()) == spikes.sum()  # every turn's spikes, not turn 2's
    assert "turn 2 in its dialogue" in raster.axes[0].get_title()
    analysis.conversation_time = False
    raster, _ = spike_figures(analysis, 1, "text/layer0")
    assert len(raster.axes[0].collections[0].get_offsets()) == spikes[1].sum()


def test_a_checkpoint_without_carry_over_says_why():
    from demo.tabs.learn_views import no_conversation_neurons_text

    assert "no DSWA step" in no_conversation_neurons_text(None)
    assert "is the `residual` variant" in no_conversation_neurons_text("residual")
