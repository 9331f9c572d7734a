"""Matplotlib figures of SpikEmo's inputs, outputs and internal traces (for the app and notebooks).

Every function returns a new `matplotlib.figure.Figure` built without pyplot, so figures carry no global
state and can be made from several threads. Emotions keep one colour everywhere (`emotion_colors`).
"""

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from spikemo.data.conversation import Conversation, in_order_of_appearance
from spikemo.data.labels import MELD_LABELS
from spikemo.viz.lif_teaching import LIFTrace, TimeStepSweep

# Colour-blind friendly (Okabe-Ito based) colours for MELD's emotions; other label sets use tab10.
MELD_COLORS: dict[str, str] = {
    "neutral": "#9e9e9e",
    "surprise": "#e69f00",
    "fear": "#8e44ad",
    "sadness": "#0072b2",
    "joy": "#f0c419",
    "disgust": "#009e73",
    "anger": "#d55e00",
}
MISSING_COLOR = "#ffffff"
SPEECH_COLOR = "#8c8c8c"  # the speaker timeline under the turns
# The per-turn figures are drawn 4.4 in wide with 10 pt text, one row per turn: on a 390 px phone, which shows
# them 324 px wide (measured in the app's page), a label is still 10 px tall; a desktop column does not scale them
# down, and their height, not their width, grows with the number of turns, so 2 turns and 60 read alike.
TURN_FIGURE_WIDTH_IN = 4.4
PLOT_WIDTH_IN = 3.4  # about what is left of that width for the plot itself, beside the tick labels
TEXT_PT = 10
CHAR_WIDTH_IN = 0.09  # a digit at TEXT_PT
ROW_IN = 0.26  # per turn row: a 10 pt label fits
LEGEND_CHAR_IN, LEGEND_ENTRY_IN = 0.08, 0.45  # a legend entry: its label's letters at TEXT_PT, the patch and gaps
SPIKE_COLOR = "#1f1f1f"


def emotion_colors(labels: Sequence[str] = MELD_LABELS) -> dict[str, str]:
    """label -> colour: MELD's fixed palette where it applies, tab10 for any other label."""
    palette = colormaps["tab10"]
    return {label: MELD_COLORS.get(label, palette(i % 10)) for i, label in enumerate(labels)}


def _legend_handles(labels: Sequence[str]) -> list[Patch]:
    colors = emotion_colors(labels)
    return [Patch(facecolor=colors[label], edgecolor="black", linewidth=0.4, label=label) for label in labels]


def _rows_height(length: int, extra_in: float) -> float:
    """The height (inches) of a figure with one row per turn and `extra_in` for its title, axis and legend."""
    return ROW_IN * length + extra_in


def _turn_axis(axis: Axis, length: int) -> None:
    """Number every turn 1..length on `axis`."""
    axis.set_ticks(range(length), [str(i + 1) for i in range(length)])
    axis.set_label_text("turn", fontsize=TEXT_PT)


def _legend_below(figure: Figure, handles: list[Patch]) -> None:
    """A legend under the plot, in as many columns (at most 4) as its longest label lets fit the figure's width."""
    if handles:
        entry_in = max(len(h.get_label()) for h in handles) * LEGEND_CHAR_IN + LEGEND_ENTRY_IN
        columns = max(1, min(len(handles), 4, int(figure.get_figwidth() / entry_in)))
        figure.legend(handles=handles, loc="outside lower center", ncols=columns, fontsize=TEXT_PT, frameon=False)


def empty_figure(message: str, size: tuple[float, float] = (8, 2)) -> Figure:
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#555555", wrap=True)
    axes.set_axis_off()
    return figure


def plot_emotion_timeline(
    conversation: Conversation,
    duration: float | None = None,
    labels: Sequence[str] = MELD_LABELS,
    selected: int | None = None,
    speech: Sequence[tuple[float, float, str]] = (),
) -> Figure:
    """One lane per speaker; each utterance a bar over its time, coloured by the predicted emotion.

    Bar opacity follows the prediction's confidence; a bar wide enough for it carries its turn number. Utterances
    without times are placed by turn index. `selected` (utterance index) is outlined. `speech`: the speaker
    timeline, (start, end, speaker) of all the speech heard, drawn as a thin grey line under each lane (laughs and
    backchannels without words show there only).
    """
    if not conversation.utterances:
        return empty_figure("No utterances were found.")
    speakers = conversation.speakers()
    speakers += [name for name in dict.fromkeys(name for _, _, name in speech) if name not in speakers]
    colors = emotion_colors(labels)
    timed = all(u.start is not None and u.end is not None for u in conversation.utterances)
    figure = Figure(figsize=(TURN_FIGURE_WIDTH_IN, 0.45 * len(speakers) + 1.9), layout="constrained")
    axes = figure.add_subplot()
    span = (duration or max(u.end for u in conversation.utterances)) if timed else len(conversation.utterances)
    for index, utterance in enumerate(conversation.utterances):
        start, end = (utterance.start, utterance.end) if timed else (index, index + 0.9)
        prediction = utterance.prediction
        color = colors.get(prediction.emotion, MISSING_COLOR) if prediction else MISSING_COLOR
        alpha = 0.35 + 0.65 * max(prediction.probabilities.values()) if prediction else 1.0
        lane = speakers.index(utterance.speaker)
        axes.barh(
            lane, end - start, left=start, height=0.7, color=color, alpha=alpha,
            edgecolor="black", linewidth=2.0 if index == selected else 0.4,
        )
        number = str(index + 1)
        if (end - start) / max(span, 1e-9) * PLOT_WIDTH_IN >= CHAR_WIDTH_IN * len(number) + 0.04:
            axes.text((start + end) / 2, lane, number, ha="center", va="center", fontsize=TEXT_PT)
    for start, end, name in speech if timed else ():
        axes.barh(speakers.index(name) + 0.45, end - start, left=start, height=0.12, color=SPEECH_COLOR)
    axes.set_yticks(range(len(speakers)), [s or "(unknown)" for s in speakers])
    axes.invert_yaxis()
    axes.set_xlabel("time in the video (s)" if timed else "turn", fontsize=TEXT_PT)
    if timed and duration:
        axes.set_xlim(0, duration)
    axes.tick_params(labelsize=TEXT_PT)
    axes.set_title("Predicted emotion per turn", fontsize=TEXT_PT)
    predicted = {u.prediction.emotion for u in conversation.utterances if u.prediction}
    handles = _legend_handles([label for label in labels if label in predicted])
    if speech and timed:
        handles.append(Patch(color=SPEECH_COLOR, label="speech heard"))
    _legend_below(figure, handles)
    return figure


def plot_probabilities(
    probabilities: Mapping[str, float], gold: str | None = None, title: str = "Emotion probabilities"
) -> Figure:
    """Horizontal bars of one utterance's class probabilities (label order kept); the gold label is marked."""
    labels = list(probabilities)
    colors = emotion_colors(labels)
    figure = Figure(figsize=(5, 0.35 * len(labels) + 1.0), layout="constrained")
    axes = figure.add_subplot()
    values = [probabilities[label] for label in labels]
    axes.barh(range(len(labels)), values, color=[colors[label] for label in labels], edgecolor="black", linewidth=0.4)
    names = [f"{label} (gold)" if label == gold else label for label in labels]
    axes.set_yticks(range(len(labels)), names)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    for i, value in enumerate(values):
        axes.text(min(value + 0.01, 0.9), i, f"{value:.2f}", va="center", fontsize=8)
    axes.set_xlabel("probability")
    axes.set_title(title)
    return figure


def plot_turn_probabilities(conversation: Conversation, labels: Sequence[str] = MELD_LABELS) -> Figure:
    """Stacked horizontal bars, one row per turn: its class probabilities, one colour per emotion."""
    predicted = [u for u in conversation.utterances if u.prediction]
    if not predicted:
        return empty_figure("No predictions yet.")
    colors = emotion_colors(labels)
    length = len(conversation.utterances)
    figure = Figure(figsize=(TURN_FIGURE_WIDTH_IN, _rows_height(length, 2.2)), layout="constrained")
    axes = figure.add_subplot()
    left = np.zeros(length)
    for label in labels:
        values = np.array([u.prediction.probabilities.get(label, 0.0) if u.prediction else 0.0
                           for u in conversation.utterances])
        axes.barh(range(length), values, left=left, height=0.8, color=colors[label], edgecolor="white",
                  linewidth=0.3, label=label)
        left += values
    _turn_axis(axes.yaxis, length)
    axes.invert_yaxis()
    axes.set_xlabel("probability", fontsize=TEXT_PT)
    axes.set_xlim(0, 1)
    axes.tick_params(labelsize=TEXT_PT)
    axes.set_title("Emotion probabilities per turn", fontsize=TEXT_PT)
    _legend_below(figure, _legend_handles(list(labels)))
    return figure


def dswa_matrix(conversation: Conversation) -> tuple[list[str], np.ndarray]:
    """(modalities, [M, L] DSWA weights) from the utterances' predictions; NaN where a weight is missing."""
    modalities = in_order_of_appearance(
        m for u in conversation.utterances if u.prediction for m in u.prediction.dswa_weights
    )
    matrix = np.full((len(modalities), len(conversation.utterances)), np.nan)
    for j, utterance in enumerate(conversation.utterances):
        if utterance.prediction:
            for i, m in enumerate(modalities):
                matrix[i, j] = utterance.prediction.dswa_weights.get(m, np.nan)
    return modalities, matrix


def plot_dswa_heatmap(conversation: Conversation, selected: int | None = None) -> Figure:
    """DSWA spike-attention weights, one row per turn and a column per modality, relative to an average turn
    (weight x number of turns: 1 is what every turn would get if DSWA weighted them all alike)."""
    modalities, matrix = dswa_matrix(conversation)
    if not modalities:
        return empty_figure("This checkpoint has no DSWA weights (trained without DSWA).")
    length = matrix.shape[1]
    relative = (matrix * length).T  # [L, M]
    figure = Figure(figsize=(TURN_FIGURE_WIDTH_IN, _rows_height(length, 2.0)), layout="constrained")
    axes = figure.add_subplot()
    spread = max(float(np.nanmax(np.abs(relative - 1.0))), 1e-3)
    image = axes.imshow(
        relative, aspect="auto", cmap="RdBu_r", norm=TwoSlopeNorm(vcenter=1.0, vmin=1 - spread, vmax=1 + spread)
    )
    axes.set_xticks(range(len(modalities)), modalities)
    _turn_axis(axes.yaxis, length)
    if selected is not None and 0 <= selected < length:
        axes.axhline(selected - 0.5, color="black", linewidth=1.5)
        axes.axhline(selected + 0.5, color="black", linewidth=1.5)
    axes.tick_params(labelsize=TEXT_PT)
    bar = figure.colorbar(image, ax=axes, location="bottom", shrink=0.8)
    bar.set_label("weight relative to an average turn (1 = average)", fontsize=TEXT_PT)
    bar.ax.tick_params(labelsize=TEXT_PT)
    axes.set_title("DSWA spike-attention weight of each turn", fontsize=TEXT_PT)
    return figure


def plot_spike_raster(spikes: np.ndarray, title: str = "Output spikes", max_neurons: int = 128) -> Figure:
    """Raster of spikes [T, h] (1 = spike): time steps on x, neurons on y (the first max_neurons shown)."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 2:
        raise ValueError(f"spikes must be [T, neurons], got shape {spikes.shape}")
    shown = spikes[:, :max_neurons]
    figure = Figure(figsize=(6, 3.2), layout="constrained")
    axes = figure.add_subplot()
    steps, neurons = np.nonzero(shown)
    axes.scatter(steps, neurons, marker="|", s=30, color=SPIKE_COLOR, linewidths=1.0)
    axes.set_xlim(-0.5, shown.shape[0] - 0.5)
    axes.set_ylim(-0.5, shown.shape[1] - 0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("time step t")
    axes.set_ylabel("neuron")
    axes.set_title(f"{title} ({int(shown.sum())} spikes, rate {shown.mean():.2f})")
    return figure


def mark_turns(axes: Axes, length: int, steps: int) -> None:
    """Dotted lines between the turns of a conversation-time axis (turn i spans steps i*steps ... i*steps+steps-1)."""
    for boundary in range(1, length):
        axes.axvline(boundary * steps - 0.5, color="#bbbbbb", linestyle=":", linewidth=0.8)


def label_turns(axes: Axes, labels: Sequence[str], steps: int, **style) -> None:
    """Turn labels at the middle of each turn's steps on a conversation-time x axis (every few for a long one)."""
    every = max(1, len(labels) // 12)
    shown = range(0, len(labels), every)
    axes.set_xticks([i * steps + (steps - 1) / 2 for i in shown], [labels[i] for i in shown], **style)


def plot_dialogue_spike_raster(spikes: np.ndarray, turn: int, title: str = "Output spikes",
                               max_neurons: int = 128) -> Figure:
    """Raster of a conversation-time DSWA's spikes [L, T, h] over the whole dialogue: turn i's T steps after turn
    i - 1's on x (dotted lines between turns, turn `turn` shaded), neurons on y (the first max_neurons)."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 3:
        raise ValueError(f"spikes must be [turns, T, neurons], got shape {spikes.shape}")
    length, steps = spikes.shape[:2]
    shown = spikes[:, :, :max_neurons].reshape(length * steps, -1)
    figure = Figure(figsize=(max(6.0, 0.35 * length + 3.0), 3.2), layout="constrained")
    axes = figure.add_subplot()
    axes.axvspan(turn * steps - 0.5, (turn + 1) * steps - 0.5, color="#fde2c8", zorder=0)
    mark_turns(axes, length, steps)
    time, neurons = np.nonzero(shown)
    axes.scatter(time, neurons, marker="|", s=30, color=SPIKE_COLOR, linewidths=1.0)
    axes.set_xlim(-0.5, shown.shape[0] - 0.5)
    axes.set_ylim(-0.5, shown.shape[1] - 0.5)
    label_turns(axes, [str(i + 1) for i in range(length)], steps)
    axes.set_xlabel(f"the dialogue, turn by turn ({steps} steps each; turn {turn + 1} shaded)")
    axes.set_ylabel("neuron")
    turn_spikes = spikes[turn, :, :max_neurons]
    axes.set_title(f"{title}: turn {turn + 1} in its dialogue ({int(turn_spikes.sum())} spikes in the turn, "
                   f"rate {turn_spikes.mean():.2f})")
    return figure


def plot_spike_rates(rates: Mapping[str, Sequence[float]], highlight: str | None = None) -> Figure:
    """Mean firing rate at each time step, one curve per layer ("text/layer0", ...); `highlight` drawn bold."""
    if not rates:
        return empty_figure("No spike rates recorded.")
    figure = Figure(figsize=(6, 3.2), layout="constrained")
    axes = figure.add_subplot()
    for name, values in rates.items():
        bold = name == highlight
        axes.plot(range(len(values)), values, marker="o" if bold else None, markersize=3,
                  linewidth=2.2 if bold else 1.0, alpha=1.0 if bold or highlight is None else 0.5, label=name)
    axes.set_ylim(0, 1)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("time step t")
    axes.set_ylabel("fraction of neurons spiking")
    axes.legend(fontsize=8, frameon=False)
    axes.set_title("Spike rate over time steps")
    return figure


def plot_label_strips(
    rows: Mapping[str, Sequence[str | None]], labels: Sequence[str] = MELD_LABELS, title: str = ""
) -> Figure:
    """Per-turn labels of several sources (e.g. model / face / gold) as coloured cells, one row per turn and a
    column per source; None (unknown) stays white. Cells that differ from the first source are hatched."""
    names = list(rows)
    if not names or not any(rows.values()):
        return empty_figure("Nothing to compare.")
    length = max(len(values) for values in rows.values())
    colors = emotion_colors(labels)
    figure = Figure(figsize=(TURN_FIGURE_WIDTH_IN, _rows_height(length, 2.2)), layout="constrained")
    axes = figure.add_subplot()
    reference = rows[names[0]]
    for i, name in enumerate(names):
        for j, label in enumerate(rows[name]):
            differs = i > 0 and label is not None and j < len(reference) and label != reference[j]
            color = colors.get(label, MISSING_COLOR) if label else MISSING_COLOR
            axes.add_patch(Rectangle((i, j), 1, 1, facecolor=color, edgecolor="black", linewidth=0.4,
                                     hatch="///" if differs else None))
    axes.set_xlim(0, len(names))
    axes.set_ylim(length, 0)
    axes.set_xticks([i + 0.5 for i in range(len(names))], names)
    axes.set_yticks([j + 0.5 for j in range(length)], [str(j + 1) for j in range(length)])
    axes.set_ylabel("turn", fontsize=TEXT_PT)
    axes.tick_params(labelsize=TEXT_PT)
    axes.set_title(title or f"Per-turn labels (hatched: differs from {names[0]})", fontsize=TEXT_PT)
    used = [label for label in labels if any(label in values for values in rows.values())]
    _legend_below(figure, _legend_handles(used))
    return figure


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str]) -> Figure:
    """Confusion matrix (rows gold, columns predicted), cells coloured by row share and labelled by count."""
    counts = np.asarray(confusion, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(6.2, 5.2), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            axes.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                      color="white" if shares[i, j] > 0.6 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    figure.colorbar(image, ax=axes, label="share of the gold row")
    axes.set_title("Confusion matrix")
    return figure


def plot_per_class_f1(per_class_f1: Mapping[str, float], weighted_f1: float | None = None) -> Figure:
    """Bars of per-class F1 (percent), with the weighted F1 as a dashed line."""
    labels = list(per_class_f1)
    colors = emotion_colors(labels)
    figure = Figure(figsize=(6.2, 3.4), layout="constrained")
    axes = figure.add_subplot()
    values = [per_class_f1[label] for label in labels]
    axes.bar(range(len(labels)), values, color=[colors[label] for label in labels], edgecolor="black", linewidth=0.4)
    for i, value in enumerate(values):
        axes.text(i, value + 1, f"{value:.1f}", ha="center", fontsize=8)
    if weighted_f1 is not None:
        axes.axhline(weighted_f1, color="black", linestyle="--", linewidth=1, label=f"weighted F1 {weighted_f1:.1f}")
        axes.legend(fontsize=8, frameon=False)
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_ylim(0, 100)
    axes.set_ylabel("F1 (%)")
    axes.set_title("Per-class F1")
    return figure


def plot_lif_trace(trace: LIFTrace) -> Figure:
    """Four panels over the time steps (input current; membrane potential with the threshold and the spikes;
    spikes; the learning signal) and, on the right, the spike rule beside the smooth curve training uses.

    The input and membrane axes always reach above the threshold, so a current below it looks below it; every
    legend sits above its panel, where it covers no trace. The right panel's x axis is the membrane potential:
    the step sits at the threshold and this run's potentials are marked on the curve, so it moves with the
    threshold and with tau.
    """
    config = trace.config
    steps = np.arange(config.time_steps)
    bottom = min(0.0, float(trace.current.min()), float(trace.charged.min()))
    figure = Figure(figsize=(11, 8), layout="constrained")
    grid = figure.add_gridspec(4, 2, width_ratios=(3, 1.3))
    current = figure.add_subplot(grid[0, 0])
    current.step(steps, trace.current, where="mid", color="#444444", label="input current")
    current.axhline(config.threshold, color="#d55e00", linestyle="--", label="threshold")
    current.set_ylim(bottom, 1.15 * max(config.threshold, float(trace.current.max())))
    current.set_ylabel("input")
    _legend_above(current)
    membrane = figure.add_subplot(grid[1, 0], sharex=current)
    membrane.plot(steps, trace.charged, marker="o", markersize=3, label="potential (after charging)")
    membrane.plot(steps, trace.membrane, linestyle=":", color="#777777", label="potential (after a reset)")
    membrane.axhline(config.threshold, color="#d55e00", linestyle="--", label="threshold")
    fired = trace.spikes > 0
    membrane.scatter(steps[fired], trace.charged[fired], color="#d55e00", zorder=3, s=25, label="spike")
    membrane.set_ylim(bottom, 1.15 * max(config.threshold, float(trace.charged.max())))
    membrane.set_ylabel("membrane")
    _legend_above(membrane)
    spikes = figure.add_subplot(grid[2, 0], sharex=current)
    spikes.vlines(steps[fired], 0, 1, color=SPIKE_COLOR, linewidth=2)
    spikes.set_ylim(0, 1.1)
    spikes.set_yticks([])
    spikes.set_ylabel(f"spikes ({trace.spike_count})")
    gradient = figure.add_subplot(grid[3, 0], sharex=current)
    gradient.bar(steps, trace.surrogate_gradient, color="#0072b2", alpha=0.7, label="slope of the smooth curve")
    gradient.plot(steps, trace.input_gradient, color="#009e73", marker=".",
                  label="effect of each step's input on the spike count")
    gradient.set_xlabel("time step")
    gradient.set_ylabel("learning signal")
    _legend_above(gradient)
    figure.suptitle(f"One LIF neuron: tau={config.tau:g}, threshold={config.threshold:g}, T={config.time_steps}: "
                    f"{trace.spike_count} spikes (rate {trace.firing_rate:.2f})")
    _plot_spike_rule(figure.add_subplot(grid[1:, 1]), trace)
    return figure


def _legend_above(axes: Axes) -> None:
    axes.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, frameon=False,
                borderaxespad=0.2)


def _plot_spike_rule(axes: Axes, trace: LIFTrace) -> None:
    """The spike rule (a step at the threshold) and the ATan curve and slope that stand in for it in training,
    against the membrane potential, with this run's potentials marked on the slope."""
    config = trace.config
    alpha = config.surrogate_alpha
    span = max(2.0, 1.2 * float(np.abs(trace.charged - config.threshold).max()))
    potential = np.linspace(config.threshold - span, config.threshold + span, 401)
    x = potential - config.threshold
    axes.step(potential, (x >= 0).astype(float), where="post", color="black", linestyle="--",
              label="spike rule: fire at the threshold")
    axes.plot(potential, np.arctan(np.pi / 2 * alpha * x) / np.pi + 0.5, label="smooth stand-in (ATan)")
    axes.plot(potential, alpha / 2 / (1 + (np.pi / 2 * alpha * x) ** 2), label="its slope, used to learn")
    axes.scatter(trace.charged, trace.surrogate_gradient, color="#0072b2", s=14, zorder=3,
                 label="this run's potentials")
    axes.axvline(config.threshold, color="#d55e00", linestyle="--", linewidth=1)
    axes.set_xlabel("membrane potential")
    axes.set_ylim(-0.05, 1.7)  # the top left stays empty (every curve is low there): room for the legend
    axes.legend(fontsize=8, loc="upper left", frameon=False)
    axes.set_title("The spike and training's smooth stand-in", fontsize=9)


def plot_time_step_sweep(sweep: TimeStepSweep, modality: str) -> Figure:
    """DSWA weight of each turn (x) at each number of time steps T (y), relative to uniform (1 = 1/L)."""
    if modality not in sweep.weights:
        return empty_figure(f"No {modality} DSWA weights in this sweep (modalities: {', '.join(sweep.weights)}).")
    weights = sweep.weights[modality]
    relative = weights * weights.shape[1]
    figure = Figure(figsize=(max(6.0, 0.45 * weights.shape[1] + 2.5), 0.45 * len(sweep.time_steps) + 1.8),
                    layout="constrained")
    axes = figure.add_subplot()
    spread = max(float(np.abs(relative - 1.0).max()), 1e-3)
    image = axes.imshow(relative, aspect="auto", cmap="RdBu_r",
                        norm=TwoSlopeNorm(vcenter=1.0, vmin=1 - spread, vmax=1 + spread))
    axes.set_yticks(range(len(sweep.time_steps)), [f"T={t}" for t in sweep.time_steps])
    axes.set_xticks(range(weights.shape[1]), [str(j + 1) for j in range(weights.shape[1])])
    axes.set_xlabel("turn")
    figure.colorbar(image, ax=axes, label="weight x turns (1 = uniform)")
    axes.set_title(f"{modality} DSWA weights as the number of time steps T grows")
    return figure
