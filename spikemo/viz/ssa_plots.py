"""Matplotlib figures of spiking self-attention for one turn (spikemo.viz.ssa_teaching.TurnAttentionTrace), and of
the conversation-time DSWA's neurons across a dialogue (spikemo.viz.conversation_teaching).

Like spikemo.viz.plots, every function returns a new `matplotlib.figure.Figure` built without pyplot. Turns and
heads are numbered from 1 in the figures (0-based in the trace).
"""

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from spikemo.viz.conversation_teaching import ConversationNeuronTrace
from spikemo.viz.plots import SPIKE_COLOR, label_turns, mark_turns
from spikemo.viz.ssa_teaching import RATE_NAMES, TurnAttentionTrace

HIGHLIGHT_COLOR = "#d55e00"


def _raster(axes: Axes, spikes: np.ndarray, title: str) -> None:
    """Draw spikes [T, n] as a raster: a dash at (step, neuron) for every spike."""
    steps, neurons = np.nonzero(spikes)
    axes.scatter(steps, neurons, marker="|", s=18, color=SPIKE_COLOR, linewidths=1.0)
    axes.set_xlim(-0.5, spikes.shape[0] - 0.5)
    axes.set_ylim(-0.5, spikes.shape[1] - 0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    axes.set_title(f"{title} (rate {spikes.mean():.2f})", fontsize=9)


def plot_qkv_rasters(trace: TurnAttentionTrace, max_neurons: int = 32) -> Figure:
    """Query, key and value spike rasters of the chosen turn in the chosen head: one row per layer, time steps
    on x, the head's first `max_neurons` neurons on y. 3 axes per layer."""
    figure = Figure(figsize=(10, 2.1 * trace.layers + 0.7), layout="constrained")
    grid = figure.subplots(trace.layers, 3, squeeze=False, sharex=True)
    for layer in range(trace.layers):
        for column, (name, spikes) in enumerate(
            (("query Q", trace.query[layer]), ("key K", trace.key[layer]), ("value V", trace.value[layer]))
        ):
            axes = grid[layer, column]
            _raster(axes, spikes[:, :max_neurons], f"layer {layer + 1}: {name}")
            if column == 0:
                axes.set_ylabel("neuron")
            if layer == trace.layers - 1:
                axes.set_xlabel("time step t")
    figure.suptitle(f"Turn {trace.turn + 1}, head {trace.head + 1}: spike trains (a dash = a spike)", fontsize=10)
    return figure


def plot_coincidence(trace: TurnAttentionTrace, turn_labels: Sequence[str] | None = None) -> Figure:
    """Q K^T coincidence counts of the chosen head, averaged over T: per layer, one large turn x turn map (its
    cells numbered when the dialogue is short, the chosen turn's row boxed), and under it that row at every
    step ([T, L]). One column, so it stays readable at a phone's width. turn_labels: a name per turn for the
    axes (e.g. "3 Ross"), turn numbers when None. 2 axes and a colour bar per layer."""
    length = trace.num_turns
    labels = list(turn_labels) if turn_labels is not None else [str(i + 1) for i in range(length)]
    figure = Figure(figsize=(6.4, (5.2 + 0.12 * length) * trace.layers), layout="constrained")
    grid = figure.add_gridspec(2 * trace.layers, 1, height_ratios=[3.4, 1.2] * trace.layers)
    cmap = colormaps["magma"]
    for layer in range(trace.layers):
        counts = trace.coincidence[layer][trace.head]  # [L, L]
        axes = figure.add_subplot(grid[2 * layer])
        image = axes.imshow(counts, cmap=cmap, vmin=0, vmax=max(float(counts.max()), 1.0))
        _labelled_turns(axes, labels)
        axes.add_patch(Rectangle((-0.5, trace.turn - 0.5), length, 1, fill=False, edgecolor="#00b4d8",
                                 linewidth=2))
        if length <= 12:  # a number in every cell while they are large enough to hold one
            for (row, column), value in np.ndenumerate(counts):
                axes.text(column, row, f"{value:.1f}", ha="center", va="center", fontsize=8,
                          color="white" if value < 0.6 * counts.max() else "black")
        axes.set_ylabel("query turn (looks)")
        axes.set_xlabel("key turn (is looked at)")
        axes.set_title(f"Layer {layer + 1}, head {trace.head + 1}: neurons firing together, mean over "
                       f"{trace.time_steps} steps", fontsize=10)
        figure.colorbar(image, ax=axes, label="neurons firing together", shrink=0.85)
        over_time = figure.add_subplot(grid[2 * layer + 1])
        steps = over_time.imshow(trace.turn_coincidence[layer], cmap=cmap, aspect="auto", interpolation="nearest",
                                 vmin=0, vmax=max(float(trace.turn_coincidence[layer].max()), 1.0))
        _labelled_turns(over_time, labels, y=False)
        over_time.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        over_time.set_ylabel("time step")
        over_time.set_title(f"Turn {trace.turn + 1}'s row (boxed above) at each step", fontsize=9)
        figure.colorbar(steps, ax=over_time, label="at one step", shrink=0.85)
    return figure


def _labelled_turns(axes: Axes, labels: list[str], y: bool = True) -> None:
    """Turn labels on x (and y), every few for a long dialogue."""
    step = max(1, len(labels) // 12)
    positions = list(range(0, len(labels), step))
    names = [labels[i] for i in positions]
    axes.set_xticks(positions, names, fontsize=8, rotation=45 if max(map(len, names)) > 3 else 0, ha="right"
                    if max(map(len, names)) > 3 else "center")
    if y:
        axes.set_yticks(positions, names, fontsize=8)


def plot_attention_output(trace: TurnAttentionTrace) -> Figure:
    """Left, per layer: the chosen turn's attention-neuron spikes in the chosen head's channels ([T, d] of
    [T, h]). Right: every layer's firing rates (query, key, value, attention, MLP) as bars. layers + 1 axes."""
    size = trace.query[0].shape[1]
    channels = slice(trace.head * size, (trace.head + 1) * size)
    figure = Figure(figsize=(10, 2.0 * trace.layers + 1.0), layout="constrained")
    grid = figure.add_gridspec(trace.layers, 2, width_ratios=(3, 2))
    for layer in range(trace.layers):
        axes = figure.add_subplot(grid[layer, 0])
        _raster(axes, trace.attention_spikes[layer][:, channels],
                f"layer {layer + 1}: attention neurons of turn {trace.turn + 1}, head {trace.head + 1}'s channels")
        axes.set_ylabel("neuron")
        if layer == trace.layers - 1:
            axes.set_xlabel("time step t")
    bars = figure.add_subplot(grid[:, 1])
    width = 0.8 / trace.layers
    palette = colormaps["tab10"]
    positions = np.arange(len(RATE_NAMES))
    for layer, rates in enumerate(trace.firing_rates):
        values = [rates[name] for name in RATE_NAMES]
        bars.bar(positions + (layer - (trace.layers - 1) / 2) * width, values, width, color=palette(layer),
                 edgecolor="black", linewidth=0.4, label=f"layer {layer + 1}")
    bars.set_xticks(positions, RATE_NAMES, rotation=30, ha="right")
    # Spiking layers are sparse (rates of a few percent), so the scale follows the highest rate.
    highest = max(max(rates.values()) for rates in trace.firing_rates)
    bars.set_ylim(0, min(1.0, 1.25 * highest) if highest > 0 else 1.0)
    bars.set_ylabel("firing rate (spikes per neuron per step)")
    bars.set_title("Firing rates over the whole dialogue", fontsize=9)
    bars.legend(fontsize=8, frameon=False)
    return figure


def plot_weights_by_step(trace: TurnAttentionTrace) -> Figure:
    """Each turn's DSWA weight had the model stopped after t steps (t = 1 ... T), relative to uniform
    (1 = an average turn); the chosen turn drawn bold. One axes."""
    relative = trace.weights_by_step * trace.num_turns
    steps = np.arange(1, trace.time_steps + 1)
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    axes = figure.add_subplot()
    for turn in range(trace.num_turns):
        chosen = turn == trace.turn
        axes.plot(steps, relative[:, turn], color=HIGHLIGHT_COLOR if chosen else "#8a8a8a",
                  linewidth=2.4 if chosen else 0.9, zorder=3 if chosen else 2,
                  label=f"turn {turn + 1}" if chosen else None)
        axes.annotate(str(turn + 1), (steps[-1], relative[-1, turn]), xytext=(4, 0), textcoords="offset points",
                      va="center", fontsize=7, color=HIGHLIGHT_COLOR if chosen else "#555555")
    axes.axhline(1.0, color="black", linestyle="--", linewidth=0.8, label="uniform (1/L)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(1, trace.time_steps + 0.9)
    axes.set_xlabel("time steps t the model has run")
    axes.set_ylabel("weight x turns (1 = average)")
    axes.legend(fontsize=8, frameon=False, loc="best")
    axes.set_title(f"How the {trace.modality} DSWA weights form as T grows (numbers: turns)", fontsize=10)
    return figure


def plot_conversation_neurons(trace: ConversationNeuronTrace, turn_labels: Sequence[str] | None = None) -> Figure:
    """The conversation-time DSWA's neurons across the dialogue: top, the shown neurons' membrane potentials against
    the threshold (one line each); middle, their spikes as a raster; bottom, each turn's DSWA weight. The x axis is
    conversation time (turn i spans its k steps, labelled at its middle; dotted lines between turns). 3 axes."""
    length, steps = trace.num_turns, trace.steps_per_turn
    labels = list(turn_labels) if turn_labels is not None else [str(i + 1) for i in range(length)]
    time = np.arange(length * steps)
    figure = Figure(figsize=(max(6.4, 0.5 * length + 3.0), 7.5), layout="constrained")
    membrane, raster, weights = figure.subplots(3, 1, sharex=True, height_ratios=(3, 2, 1.4))
    for column, neuron in enumerate(trace.neurons):
        membrane.plot(time, trace.membrane[:, column], linewidth=1.2, label=f"neuron {neuron}")
    membrane.axhline(trace.threshold, color=HIGHLIGHT_COLOR, linestyle="--", label="threshold")
    top = max(float(trace.membrane.max()), trace.threshold)
    membrane.set_ylim(min(0.0, float(trace.membrane.min())), 1.15 * top)
    membrane.set_ylabel("membrane potential")
    membrane.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, frameon=False)
    fired_at, which = np.nonzero(trace.spikes > 0.5)
    raster.scatter(fired_at, which, marker="|", s=40, color=SPIKE_COLOR, linewidths=1.2)
    raster.set_yticks(range(len(trace.neurons)), [str(n) for n in trace.neurons], fontsize=8)
    raster.set_ylim(-0.5, len(trace.neurons) - 0.5)
    raster.set_ylabel("neuron (a dash = a spike)" if trace.spiking else "neuron (no spikes: smooth control)")
    weights.bar(np.arange(length) * steps + (steps - 1) / 2, trace.weights * length, width=0.8 * steps,
                color="#0072b2")
    weights.axhline(1.0, color="#777777", linewidth=0.8)
    weights.set_ylabel("weight x turns")
    for axes in (membrane, raster, weights):
        mark_turns(axes, length, steps)
    label_turns(weights, labels, steps, fontsize=8, rotation=45, ha="right")
    weights.set_xlabel(f"the dialogue, turn by turn ({steps} steps each)")
    figure.suptitle(f"{trace.modality} neurons reading the dialogue: {len(trace.neurons)} of {trace.population}, "
                    f"memory {trace.tau_turns:g} turns", fontsize=10)
    return figure
