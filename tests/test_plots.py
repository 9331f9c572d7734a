"""spikemo.viz.plots figures and spikemo.viz.lif_teaching (the LIF teaching simulation and the DSWA sweep over T)."""

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from spikemo.data.conversation import Conversation, Prediction, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.errors import InputError
from spikemo.model.modeling import SpikEmoModel
from spikemo.training.dswa_ablation import predict_without_dswa
from spikemo.viz import plots
from spikemo.viz.lif_teaching import LIFDemoConfig, dswa_weights_by_time_steps, input_current, simulate_lif
from tests.helpers import tiny_config


def _prediction(emotion: str, dswa: dict[str, float] | None = None) -> Prediction:
    probabilities = {label: 0.4 if label == emotion else 0.1 for label in MELD_LABELS}
    return Prediction(emotion, probabilities, dswa or {}, {"text/layer0": [0.1, 0.3, 0.2]})


def _conversation(timed: bool = True, dswa: bool = True) -> Conversation:
    """Three speakers, five turns; DSWA weights for text and audio that sum to 1 over the turns."""
    speakers = ["Ann", "Bob", "Ann", "Cid", "Bob"]
    emotions = ["joy", "anger", "joy", "neutral", "sadness"]
    weights = [0.1, 0.3, 0.2, 0.25, 0.15]
    return Conversation("d1", [
        Utterance(speaker, f"turn {i}", start=2.0 * i if timed else None, end=2.0 * i + 1.5 if timed else None,
                  prediction=_prediction(e, {"text": w, "audio": 0.2} if dswa else None))
        for i, (speaker, e, w) in enumerate(zip(speakers, emotions, weights))
    ])


def test_timeline_has_one_lane_per_speaker_and_one_bar_per_turn():
    figure = plots.plot_emotion_timeline(_conversation(), duration=10.0, selected=1)
    axes = figure.axes[0]
    assert isinstance(figure, Figure)
    assert [t.get_text() for t in axes.get_yticklabels()] == ["Ann", "Bob", "Cid"]
    bars = [p for p in axes.patches if isinstance(p, Rectangle)]
    assert len(bars) == 5
    assert bars[1].get_x() == pytest.approx(2.0) and bars[1].get_width() == pytest.approx(1.5)
    assert bars[1].get_linewidth() > bars[0].get_linewidth()  # the selected turn is outlined
    assert axes.get_xlim() == (0.0, 10.0)
    colors = plots.emotion_colors()
    assert bars[0].get_facecolor()[:3] == pytest.approx(tuple(int(colors["joy"][i:i + 2], 16) / 255 for i in (1, 3, 5)))


def test_timeline_draws_the_speech_heard_under_each_lane_and_a_lane_for_a_voice_without_words():
    speech = [(0.0, 1.2, "Ann"), (2.0, 3.6, "Bob"), (8.0, 8.4, "Dee")]
    axes = plots.plot_emotion_timeline(_conversation(), duration=10.0, speech=speech).axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["Ann", "Bob", "Cid", "Dee"]
    lines = [p for p in axes.patches if p.get_height() < 0.2]
    assert [(p.get_x(), p.get_width()) for p in lines] == [pytest.approx((0.0, 1.2)), pytest.approx((2.0, 1.6)),
                                                            pytest.approx((8.0, 0.4))]
    assert lines[2].get_y() + lines[2].get_height() / 2 == pytest.approx(3.45)  # under Dee's lane (3)
    legend = axes.figure.legends[0]
    assert "speech heard" in [t.get_text() for t in legend.get_texts()]
    axes.figure.canvas.draw()
    assert legend.get_window_extent().x1 <= axes.figure.bbox.x1  # the longest label fits the figure


def test_timeline_without_times_places_turns_by_index():
    axes = plots.plot_emotion_timeline(_conversation(timed=False)).axes[0]
    assert [p.get_x() for p in axes.patches] == [0, 1, 2, 3, 4]
    assert axes.get_xlabel() == "turn"


def test_dswa_heatmap_is_turns_by_modalities_relative_to_uniform():
    figure = plots.plot_dswa_heatmap(_conversation(), selected=2)
    image = figure.axes[0].get_images()[0].get_array()
    assert image.shape == (5, 2)  # a row per turn
    np.testing.assert_allclose(image[:, 0], np.array([0.1, 0.3, 0.2, 0.25, 0.15]) * 5)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["text", "audio"]
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["1", "2", "3", "4", "5"]


def test_dswa_heatmap_without_weights_says_so():
    figure = plots.plot_dswa_heatmap(_conversation(dswa=False))
    assert "no DSWA" in figure.axes[0].texts[0].get_text()


def test_probability_plots():
    bars = plots.plot_probabilities(_prediction("joy").probabilities, gold="anger").axes[0]
    assert len(bars.patches) == len(MELD_LABELS)
    assert "anger (gold)" in [t.get_text() for t in bars.get_yticklabels()]
    stacked = plots.plot_turn_probabilities(_conversation()).axes[0]
    assert len(stacked.patches) == 5 * len(MELD_LABELS)
    ends = np.zeros(5)
    for patch in stacked.patches:  # a row per turn
        row = int(round(patch.get_y() + patch.get_height() / 2))
        ends[row] = max(ends[row], patch.get_x() + patch.get_width())
    np.testing.assert_allclose(ends, [0.4 + 0.6] * 5)  # stacks reach the sum of the probabilities


def test_spike_raster_plots_every_spike():
    rng = np.random.default_rng(0)
    spikes = (rng.random((8, 20)) < 0.3).astype(np.uint8)
    axes = plots.plot_spike_raster(spikes).axes[0]
    assert len(axes.collections[0].get_offsets()) == spikes.sum()
    assert f"{spikes.sum()} spikes" in axes.get_title()
    with pytest.raises(ValueError, match="T, neurons"):
        plots.plot_spike_raster(np.zeros(5))
    rates = plots.plot_spike_rates({"text/layer0": [0.1, 0.2], "text/layer1": [0.3, 0.1]}, highlight="text/layer1")
    assert len(rates.axes[0].lines) == 2


def test_a_conversation_time_raster_runs_along_the_dialogue():
    rng = np.random.default_rng(1)
    spikes = (rng.random((5, 4, 12)) < 0.3).astype(np.uint8)  # [L turns, T steps, neurons]
    axes = plots.plot_dialogue_spike_raster(spikes, turn=2, title="text/layer0").axes[0]
    times = axes.collections[0].get_offsets()[:, 0]
    assert len(times) == spikes.sum() and times.max() < 5 * 4  # every spike, in conversation time
    expected = sorted(t * 4 + step for t, step, _ in zip(*np.nonzero(spikes)))
    assert sorted(times.astype(int)) == expected  # turn i's steps follow turn i - 1's
    assert f"{spikes[2].sum()} spikes in the turn" in axes.get_title()
    assert [label.get_text() for label in axes.get_xticklabels()] == ["1", "2", "3", "4", "5"]
    with pytest.raises(ValueError, match="turns, T, neurons"):
        plots.plot_dialogue_spike_raster(spikes[0], turn=0)


def test_label_strips_hatch_disagreements():
    rows = {"model": ["joy", "anger", "fear"], "face": ["joy", "sadness", None]}
    axes = plots.plot_label_strips(rows).axes[0]
    cells = [p for p in axes.patches if isinstance(p, Rectangle)]
    assert len(cells) == 6
    assert sum(bool(c.get_hatch()) for c in cells) == 1  # only turn 2's face differs; None is not a disagreement


# How wide a 390 px phone shows a figure of the Analyse tab (the page's margins and the plot's frame taken off);
# tests/test_browser.py checks the page against it.
PHONE_FIGURE_PX = 320.0


def smallest_text_on_a_phone(figure: Figure, shown_px: float = PHONE_FIGURE_PX) -> float:
    """The smallest text of `figure` in screen pixels when its image is shown `shown_px` wide, never enlarged past
    its natural width."""
    figure.canvas.draw()
    natural_px = figure.get_figwidth() * figure.dpi
    scale = min(1.0, shown_px / natural_px)
    sizes = [t.get_fontsize() for t in figure.findobj(Text) if t.get_text() and t.get_visible()]
    return min(sizes) * figure.dpi / 72 * scale


def conversation_of(length: int) -> Conversation:
    emotions = list(MELD_LABELS)
    return Conversation("long", [
        Utterance(f"Speaker {i % 3}", f"turn {i}", start=5.0 * i, end=5.0 * i + 4.0,
                  prediction=_prediction(emotions[i % 7], {"text": 1 / length}))
        for i in range(length)
    ])


@pytest.mark.parametrize("length", [2, 18, 60])
def test_per_turn_figures_stay_readable_on_a_phone(length):
    conversation = conversation_of(length)
    figures = {
        "timeline": plots.plot_emotion_timeline(conversation, duration=5.0 * length),
        "probabilities": plots.plot_turn_probabilities(conversation),
        "heatmap": plots.plot_dswa_heatmap(conversation, selected=0),
        "strips": plots.plot_label_strips({"model": [u.prediction.emotion for u in conversation.utterances],
                                           "face": [None] * length}),
    }
    for name, figure in figures.items():
        assert smallest_text_on_a_phone(figure) >= 10, name
    labels = [t.get_text() for t in figures["heatmap"].axes[0].get_yticklabels()]
    assert labels == [str(i + 1) for i in range(length)]  # every turn named


def test_metric_plots():
    confusion = [[5, 1], [2, 3]]
    axes = plots.plot_confusion(confusion, ["joy", "anger"]).axes[0]
    np.testing.assert_allclose(axes.get_images()[0].get_array(), [[5 / 6, 1 / 6], [2 / 5, 3 / 5]])
    assert sorted(t.get_text() for t in axes.texts) == ["1", "2", "3", "5"]
    bars = plots.plot_per_class_f1({"joy": 50.0, "anger": 20.0}, weighted_f1=40.0).axes[0]
    assert [p.get_height() for p in bars.patches] == [50.0, 20.0]


# ---------------------------------------------------------------------------------------------- LIF teaching


def _reference_lif(current: np.ndarray, tau: float, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """LIF by hand: H = V + (X - V) / tau; spike when H >= threshold; hard reset to 0."""
    v, charged, spikes = 0.0, [], []
    for x in current:
        h = v + (x - v) / tau
        charged.append(h)
        spikes.append(float(h >= threshold))
        v = 0.0 if h >= threshold else h
    return np.array(charged), np.array(spikes)


@pytest.mark.parametrize("shape", ["constant", "ramp", "pulses"])
def test_lif_simulation_matches_the_lif_equations(shape):
    config = LIFDemoConfig(current=1.7, tau=3.0, threshold=1.0, time_steps=40, shape=shape)
    trace = simulate_lif(config)
    charged, spikes = _reference_lif(input_current(config), config.tau, config.threshold)
    np.testing.assert_allclose(trace.charged, charged, atol=1e-6)
    np.testing.assert_array_equal(trace.spikes, spikes)
    assert np.all(trace.membrane[trace.spikes > 0] == 0)
    alpha = config.surrogate_alpha
    expected = alpha / 2 / (1 + (math.pi / 2 * alpha * (charged - config.threshold)) ** 2)
    np.testing.assert_allclose(trace.surrogate_gradient, expected, rtol=1e-5)
    assert isinstance(plots.plot_lif_trace(trace), Figure)


def test_subthreshold_neuron_is_silent_but_still_has_a_gradient():
    trace = simulate_lif(LIFDemoConfig(current=0.8, threshold=1.0, time_steps=30))
    assert trace.spike_count == 0
    assert trace.charged.max() < 0.8 + 1e-6  # it only approaches the input
    assert np.all(trace.input_gradient > 0)  # the surrogate still says "more input, more spikes"


def test_the_lif_plot_keeps_the_threshold_in_view_and_its_legends_off_the_traces():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    trace = simulate_lif(LIFDemoConfig(current=0.8, threshold=1.0, time_steps=30))
    figure = plots.plot_lif_trace(trace)
    FigureCanvasAgg(figure).draw()
    current, membrane = figure.axes[0], figure.axes[1]
    for axes in (current, membrane):  # a current below the threshold is drawn below it
        low, high = axes.get_ylim()
        assert low <= 0 and high > trace.config.threshold > trace.current.max()
        assert axes.get_legend().get_window_extent().y0 >= axes.get_window_extent().y1 - 1  # above the panel
    labels = [text.get_text() for axes in figure.axes[:4] if axes.get_legend()
              for text in axes.get_legend().get_texts()]
    assert not any("[t]" in label or "BPTT" in label for label in labels)  # plain words, no notation


def test_the_spike_rule_panel_moves_with_the_threshold_and_tau():
    def rule_panel(config: LIFDemoConfig) -> tuple[float, np.ndarray]:
        trace = simulate_lif(config)
        axes = plots.plot_lif_trace(trace).axes[-1]
        step = axes.get_lines()[0]  # the spike rule: 0 below the threshold, 1 from it on
        x, y = step.get_xdata(), step.get_ydata()
        np.testing.assert_allclose(axes.collections[0].get_offsets()[:, 0], trace.charged, rtol=1e-6)
        return float(x[np.argmax(y > 0.5)]), axes.collections[0].get_offsets()[:, 0]

    edge, _ = rule_panel(LIFDemoConfig(threshold=1.0))
    higher, _ = rule_panel(LIFDemoConfig(threshold=2.0))
    assert edge == pytest.approx(1.0, abs=0.02) and higher == pytest.approx(2.0, abs=0.02)
    _, fast = rule_panel(LIFDemoConfig(tau=2.0))
    _, slow = rule_panel(LIFDemoConfig(tau=8.0))
    assert not np.allclose(fast, slow)  # this run's potentials, which tau changes, are marked on the curve


def test_more_time_steps_give_finer_rates():
    assert simulate_lif(LIFDemoConfig(current=1.5, time_steps=2)).spike_count <= 1
    assert simulate_lif(LIFDemoConfig(current=1.5, time_steps=64)).firing_rate == pytest.approx(0.5)


@pytest.mark.parametrize("settings, message", [
    ({"tau": 1.0}, "tau must be greater than 1"),
    ({"threshold": 0.0}, "threshold must be positive"),
    ({"time_steps": 0}, "between 1 and 1024"),
    ({"shape": "square"}, "input shape"),
])
def test_bad_lif_settings_are_refused(settings, message):
    with pytest.raises(InputError, match=message):
        LIFDemoConfig(**settings)


def _tiny_model(use_dswa: bool = True) -> SpikEmoModel:
    torch.manual_seed(0)
    config = tiny_config(("text", "audio"), input_dims={"text": 12, "audio": 6}, use_dswa=use_dswa)
    return SpikEmoModel(config).eval()


def _featured_conversation(length: int = 6) -> Conversation:
    rng = np.random.default_rng(1)
    return Conversation("c", [
        Utterance("AB"[i % 2], f"t{i}", features={"text": rng.standard_normal(12).astype(np.float32),
                                                  "audio": rng.standard_normal(6).astype(np.float32)})
        for i in range(length)
    ])


def test_dswa_sweep_over_time_steps():
    model, conversation = _tiny_model(), _featured_conversation()
    sweep = dswa_weights_by_time_steps(model, conversation, time_steps=(2, 8, 32))
    assert sweep.time_steps == (2, 8, 32)
    assert set(sweep.weights) == {"text", "audio"}
    for weights in sweep.weights.values():
        assert weights.shape == (3, 6)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(sweep.weights["text"][0], sweep.weights["text"][2])  # T changes the weights
    assert len(sweep.predictions) == 3 and all(len(p) == 6 for p in sweep.predictions)
    assert sweep.without_dswa == [p.emotion for p in predict_without_dswa(model, [conversation])[0]]
    figure = plots.plot_time_step_sweep(sweep, "text")
    assert figure.axes[0].get_images()[0].get_array().shape == (3, 6)


def test_dswa_sweep_needs_dswa_and_features():
    with pytest.raises(InputError, match="without DSWA"):
        dswa_weights_by_time_steps(_tiny_model(use_dswa=False), _featured_conversation())
    bare = Conversation("c", [Utterance("A", "hi")])
    with pytest.raises(InputError, match="no features"):
        dswa_weights_by_time_steps(_tiny_model(), bare)
