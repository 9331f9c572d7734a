"""The Learn tab: what the spikes decide in this model (measured, from its checkpoint), one LIF neuron to play
with, then the real model's DSWA weights on a conversation (a bundled example or the visitor's last analysis) as
the number of time steps T grows, then spiking self-attention inside the model, seen from one of its turns."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

import gradio as gr
import numpy as np
from matplotlib.figure import Figure

from demo.controls import position_slider
from demo.errors import parse_choice, user_errors
from demo.markup import NO_LATEX, md
from demo.state import AppState
from demo.worker import MODEL_CONCURRENCY_ID, ZERO_GPU, run_sweep, run_turn_attention
from spikemo.data.conversation import Conversation
from spikemo.errors import CheckpointError
from spikemo.model.checkpoint import read_checkpoint_summary
from spikemo.video.analysis import Analysis
from spikemo.viz import plots, ssa_plots
from spikemo.viz.lif_teaching import LIFDemoConfig, TimeStepSweep, simulate_lif
from spikemo.viz.ssa_teaching import TurnAttentionTrace

LIF_TEXT = """### One leaky integrate-and-fire (LIF) neuron
Every spiking layer in SpikEmo is made of LIF neurons. At each time step the membrane potential **H** moves a
fraction 1/tau of the way towards the input current (it *leaks*), and when it reaches the **threshold** the
neuron emits a spike (1) and resets to 0. The output is a train of 0s and 1s over **T** time steps.
A spike is a step function, whose derivative is zero almost everywhere, so training uses a **surrogate
gradient**: the backward pass pretends the step was a smooth arctan curve (bottom right). Move the sliders."""

SSA_TEXT = """### From one neuron to spiking self-attention (DSWA)
SpikEmo feeds each turn's features into a small **Spikformer** for T time steps. Queries, keys and values are
spike trains (0/1), so `Q Kᵀ` counts how many neurons two turns fire *together*: a coincidence count, with no
softmax. Turns whose spikes coincide with many others collect more input and fire more.
The encoder's output, averaged over the T steps, gives every turn a score E per feature channel; a softmax over
the dialogue's turns makes them **DSWA weights** (shown here averaged over the channels): the model's
spike-based attention over time. Each feature is then re-weighted as `F ← softmax(E)·F + F`.
With few time steps the rates are coarse (a neuron can only fire 0, 1 or 2 times in T=2); the paper reports
that more steps help. The picture below tests that on this model: one row per T = 2 ... 64, one column per turn
of the conversation you pick (a bundled example or your own analysis from the Analyse tab); 1 (white) is an
average turn, red turns get more weight, blue turns less. Rows that look alike mean T changes nothing here."""

ATTENTION_TEXT = """### Inside spiking self-attention, one turn at a time
Now open the Spikformer up, on the conversation and modality picked above. Press the button to see the
first turn, then move the sliders to pick another turn or another attention head (each head is a separate
group of neurons that attends in its own way): the pictures show what the real model's neurons do during its
T time steps, layer by layer."""

RASTER_TEXT = """**Spike rasters.** Time runs left to right, one row per neuron; a dash means the neuron fired (1) at
that step, a blank means it stayed silent (0). A spiking network passes only these 0s and 1s. Each turn gets
three groups of neurons: the **query** (what this turn looks for in the others), the **key** (what it offers
them) and the **value** (what it passes on). The same features enter at every step, yet a neuron fires
regularly, rarely or never, depending on how strongly it is driven: how *often* it fires is its message."""

COINCIDENCE_TEXT = """**Coincidences, Q·Kᵀ.** To compare two turns, multiply turn *i*'s query spikes with turn *j*'s
key spikes neuron by neuron and add them up. With 0s and 1s a product is 1 only when both fire, so the sum
simply **counts the neurons firing together** at that step. The map shows that count (averaged over the steps)
for every pair of turns in the picked head, one map per layer: a bright cell means two turns' neurons agree
often. There is no softmax: these counts directly scale how much of each turn's values flow into the others.
The strip under each map shows the picked turn's row (boxed) step by step."""

OUTPUT_TEXT = """**Attention output and firing rates.** The values, mixed by the coincidence counts, drive one more
layer of LIF neurons, the attention neurons; their raster shows which of the picked head's channels fire for
this turn. A **firing rate** is the share of (neuron, step) slots holding a spike: 0 is silence, 1 is a
spike at every step. Spiking networks are sparse, so rates of a few percent are normal; the bars compare the
queries, keys, values, attention neurons and the MLP that follows, in each layer, over the whole dialogue."""

WEIGHTS_TEXT = """**How the weights settle as the steps accumulate.** DSWA averages the encoder's output over the
time steps, then turns it into one weight per turn. Each line is a turn's weight had the model stopped after
*t* steps (1 = an average turn). After one or two steps a neuron has fired 0, 1 or 2 times, so the average is
coarse; with every extra step each rate is measured more finely and the lines settle. Lines that are nearly
flat from the first step mean the features themselves, more than the spikes, set the weights: what the
measurements at the top of this tab say for this model."""

YOUR_ANALYSIS = "Your last analysis (Analyse tab)"
MEASURED_HEADING = "### What the spikes decide in this model (measured)"
SPIKES_DECIDE_SHARE = 0.05  # the spiking-attention issue's bar: silencing the spikes changes at least 5 % of decisions


class InputShape(StrEnum):
    """The input currents the LIF demo offers (spikemo.viz.lif_teaching.INPUT_SHAPES)."""

    CONSTANT = "constant"
    RAMP = "ramp"
    PULSES = "pulses"


class LIFView(NamedTuple):
    """One simulated LIF neuron: its figure and a paragraph reading it."""

    lif_plot: Figure
    lif_reading: str


class SweepView(NamedTuple):
    """A bundled example's DSWA weights over T, and what changes with T and without DSWA."""

    sweep_plot: Figure
    sweep_text: str


class AttentionView(NamedTuple):
    """Spiking self-attention seen from one turn of a bundled example: the pickers set to what is shown (and to
    the example's turns and the model's heads), a reading, and four figures."""

    attention_turn: dict
    attention_head: dict
    attention_reading: str
    qkv_plot: Figure
    coincidence_plot: Figure
    output_plot: Figure
    weights_plot: Figure


class LearnTab:
    """The Learn tab of one app: its components, events and handlers."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def render(self, blocks: gr.Blocks, analysis: gr.State) -> None:
        """Build the tab inside `blocks` and wire its events (the LIF figure is drawn when the page loads);
        `analysis` is the Analyse tab's state: the visitor's last analysis, which the model pictures can use."""
        with gr.Tab("Learn how the spikes work", id="learn"):
            gr.Markdown(self.measured_effect(), elem_id="learn-measured", latex_delimiters=NO_LATEX)
            gr.Markdown(LIF_TEXT)
            with gr.Row():
                current = gr.Slider(0.0, 3.0, value=1.5, step=0.05, label="Input current")
                tau = gr.Slider(1.1, 20.0, value=2.0, step=0.1, label="tau (leak time constant)")
                threshold = gr.Slider(0.1, 3.0, value=1.0, step=0.05, label="Threshold", elem_id="lif-threshold")
                time_steps = gr.Slider(2, 128, value=32, step=1, label="T (time steps)")
                shape = gr.Radio([s.value for s in InputShape], value=InputShape.CONSTANT.value,
                                 label="Input over time")
            lif_plot = gr.Plot(label="LIF neuron", show_label=False, elem_id="lif-plot")
            lif_reading = gr.Markdown(label="LIF reading", show_label=False, elem_id="lif-reading")
            gr.Markdown(SSA_TEXT)
            names = [e.name for e in self.state.examples] + [YOUR_ANALYSIS]
            modalities = self.trained_modalities()
            with gr.Row():
                example = gr.Dropdown(names, value=names[0], label="Conversation", elem_id="learn-conversation")
                modality = gr.Dropdown(modalities, value=modalities[0], label="Modality stream")
                sweep_button = gr.Button("Run the model at T = 2 ... 64", variant="primary")
            sweep_plot = gr.Plot(label="DSWA weights over T", show_label=False)
            sweep_text = gr.Markdown(label="sweep reading", show_label=False, latex_delimiters=NO_LATEX)
            gr.Markdown(ATTENTION_TEXT)
            with gr.Row():
                # Their ranges are set by the first run: the analysis gives the turns, the model the heads.
                attention_turn = gr.Slider(1, 2, value=1, step=1, label="Turn", interactive=False)
                attention_head = gr.Slider(1, 2, value=1, step=1, label="Attention head", interactive=False)
                attention_button = gr.Button("Show spiking self-attention", variant="primary",
                                             elem_id="attention-button")
            attention_reading = gr.Markdown(label="attention reading", show_label=False, latex_delimiters=NO_LATEX,
                                            elem_id="attention-reading")
            with gr.Row():
                qkv_plot = gr.Plot(label="Query, key and value spikes", show_label=False, scale=3)
                gr.Markdown(RASTER_TEXT, scale=1)
            with gr.Row():
                coincidence_plot = gr.Plot(label="Q·Kᵀ coincidences", show_label=False, scale=3,
                                           elem_id="coincidence-plot")
                gr.Markdown(COINCIDENCE_TEXT, scale=1)
            with gr.Row():
                output_plot = gr.Plot(label="Attention neurons and firing rates", show_label=False, scale=3)
                gr.Markdown(OUTPUT_TEXT, scale=1)
            with gr.Row():
                weights_plot = gr.Plot(label="DSWA weights as the steps accumulate", show_label=False, scale=3)
                gr.Markdown(WEIGHTS_TEXT, scale=1)

        sliders = [current, tau, threshold, time_steps]
        gr.on([blocks.load, *(s.release for s in sliders), shape.input], self.lif, [*sliders, shape],
              [lif_plot, lif_reading], api_name="lif")
        sweep_button.click(self.time_step_sweep, [example, modality, analysis], [sweep_plot, sweep_text],
                           concurrency_limit=self.state.config.concurrency_limit,
                           concurrency_id=MODEL_CONCURRENCY_ID, api_name="sweep")
        gr.on([attention_button.click, attention_turn.release, attention_head.release], self.turn_attention,
              [example, modality, attention_turn, attention_head, analysis],
              [attention_turn, attention_head, attention_reading, qkv_plot, coincidence_plot, output_plot,
               weights_plot],
              concurrency_limit=self.state.config.concurrency_limit, concurrency_id=MODEL_CONCURRENCY_ID,
              api_name="turn_attention")

    def measured_effect(self) -> str:
        """measured_effect_text for the app's checkpoint (nothing to measure when it cannot be read)."""
        try:
            return measured_effect_text(read_checkpoint_summary(self.state.config.checkpoint_dir).dswa_effect)
        except CheckpointError:
            return ""

    def conversation(self, choice: str | None, analysis: Analysis | None,
                     progress: gr.Progress) -> tuple[str, Conversation]:
        """The picked conversation and its name: the visitor's last analysis, or a bundled example's (analysed
        once per process, with progress)."""
        if choice == YOUR_ANALYSIS:
            if analysis is None or not analysis.conversation.utterances:
                raise gr.Error("Analyse a video in the Analyse tab first: its turns then show here.",
                               title="No analysis yet")
            return f"your analysis of {analysis.video_name}", analysis.conversation
        example = self.state.example(choice)
        if example is None:
            raise gr.Error("Pick a bundled example or your analysis.", title="No conversation")
        report = None if ZERO_GPU else (
            lambda fraction, stage: progress(0.8 * fraction, desc=f"analysing the example: {stage}"))
        return example.name, self.state.example_analysis(example, report).conversation

    def trained_modalities(self) -> list[str]:
        """The checkpoint's modalities (text when it cannot be read)."""
        try:
            return list(read_checkpoint_summary(self.state.config.checkpoint_dir).modalities)
        except CheckpointError:
            return ["text"]

    def lif(self, current: float, tau: float, threshold: float, time_steps: float, shape: str) -> LIFView:
        """Simulate one LIF neuron with these settings: the figure and a one-paragraph reading of it."""
        input_shape = parse_choice(InputShape, shape, f"Input shape must be one of "
                                   f"{', '.join(s.value for s in InputShape)}.", "Unknown input shape")
        with user_errors("simulate the neuron"):
            trace = simulate_lif(LIFDemoConfig(float(current), float(tau), float(threshold), int(time_steps),
                                               input_shape.value))
        config = trace.config
        reading = (f"The neuron fired **{trace.spike_count} times in {config.time_steps} steps** "
                   f"(rate {trace.firing_rate:.2f}). ")
        if input_shape is InputShape.CONSTANT and config.current < config.threshold:
            reading += (f"A constant input of {config.current:g} can never lift the membrane above "
                        f"{config.current:g} (it leaks towards the input), which is below the threshold "
                        f"{config.threshold:g}: the neuron stays silent, "
                        "and the surrogate gradient is what still tells training which way to move.")
        elif trace.spike_count:
            reading += ("Each spike resets the membrane to 0 and it charges again. A stronger input fires more often; "
                        "a larger tau makes the membrane move more slowly (it charges and leaks by 1/tau of the gap "
                        "each step), so it fires less often. The rate over T steps is the neuron's graded output.")
        return LIFView(plots.plot_lif_trace(trace), reading)

    def time_step_sweep(self, choice: str | None, modality: str | None, analysis: Analysis | None = None,
                        progress: gr.Progress = gr.Progress()) -> SweepView:
        """DSWA weights of the picked conversation's turns at T = 2 ... 64, with the predictions at each T."""
        with user_errors("run the model over T"):
            name, conversation = self.conversation(choice, analysis, progress)
            progress(0.85, desc="running SpikEmo at T = 2 ... 64")
            sweep = run_sweep(self.state.model_setup(), conversation)
        modality = modality if modality in sweep.weights else next(iter(sweep.weights))
        changes = [i for i in range(len(conversation)) if len({row[i] for row in sweep.predictions}) > 1]
        text = (f"{len(conversation)} turns of {md(name)}, {md(modality)} stream. Predictions at "
                f"T={sweep.time_steps[-1]}: " + ", ".join(sweep.predictions[-1]) + ". ")
        text += (f"The predicted emotion changes with T for turn(s) {', '.join(str(i + 1) for i in changes)}. "
                 if changes else "No turn's predicted emotion changes with T. ")
        return SweepView(plots.plot_time_step_sweep(sweep, modality), text + without_dswa_sentence(sweep))

    def turn_attention(self, choice: str | None, modality: str | None, turn: float | None, head: float | None,
                       analysis: Analysis | None = None, progress: gr.Progress = gr.Progress()) -> AttentionView:
        """Spiking self-attention of the picked conversation's `modality` stream for turn number `turn` and head
        number `head` (1-based): the Q/K/V rasters, the coincidence map, the attention neurons and firing rates,
        and the DSWA weights as the steps accumulate."""
        if not modality:
            raise gr.Error("Pick a modality stream.", title="No modality")
        with user_errors("show spiking self-attention"):
            _, conversation = self.conversation(choice, analysis, progress)
            if not conversation.utterances:
                raise gr.Error("No turns were found in this conversation.", title="No turns")
            # The slider may still span another example's turns: keep the pick inside this one.
            index = min(max(int(turn or 1), 1), len(conversation)) - 1
            progress(0.85, desc="tracing spiking self-attention")
            trace = run_turn_attention(self.state.model_setup(), conversation, modality, index,
                                       max(int(head or 1), 1) - 1)
        return AttentionView(
            attention_turn=position_slider(len(conversation), index + 1),
            attention_head=position_slider(trace.heads, trace.head + 1),
            attention_reading=turn_attention_reading(trace, conversation.utterances[index].speaker,
                                                     conversation.utterances[index].text),
            qkv_plot=ssa_plots.plot_qkv_rasters(trace),
            coincidence_plot=ssa_plots.plot_coincidence(
                trace, [turn_label(i, u.speaker) for i, u in enumerate(conversation.utterances)]),
            output_plot=ssa_plots.plot_attention_output(trace),
            weights_plot=ssa_plots.plot_weights_by_step(trace),
        )


def turn_label(index: int, speaker: str | None) -> str:
    """A turn's label on a figure axis, e.g. "3 Ross" (matplotlib text: a "$" would start a formula)."""
    return f"{index + 1} {(speaker or '?')[:12]}".replace("$", r"\$")


def measured_effect_text(effect: dict | None) -> str:
    """What DSWA and its spikes decide in the checkpoint, from the figures `train.dswa_effect --record` kept in its
    config.json (CheckpointSummary.dswa_effect), and what that means for the pictures below."""
    if not effect:
        return (f"{MEASURED_HEADING}\nThis checkpoint carries no measurement of what its spikes decide. "
                "`python -m train.dswa_effect --checkpoint DIR --record` measures it on MELD dev and keeps it in the "
                "checkpoint, where this page reads it.")
    n, f1 = effect["utterances"], effect["weighted_f1"]

    def share(count: int) -> str:
        return f"**{count} of {n}** decisions ({100 * count / n:.1f} %)"

    silenced = effect["changed_with_spikes_silenced"]
    lines = [
        MEASURED_HEADING,
        f"On {md(effect['csv'])} ({n} turns; DSWA variant `{md(effect['dswa_variant'])}`, T = "
        f"{effect['time_steps']}), measured with `python -m train.dswa_effect` and kept in the checkpoint:",
        f"- skipping DSWA altogether changes {share(effect['changed_without_dswa'])}; weighted F1 "
        f"{f1['with_dswa']:.2f} with it, {f1['without_dswa']:.2f} without;",
        f"- silencing every spike (DSWA runs, its neurons never fire) changes {share(silenced)}, F1 "
        f"{f1['spikes_silenced']:.2f};",
        f"- shuffling the order of each dialogue's turns changes {share(effect['changed_with_order_shuffled'])}, "
        f"F1 {f1['order_shuffled']:.2f};",
        f"- the turn weights correlate {effect['weight_feature_correlation']:.4f} with a plain softmax of the input "
        f"features, and move by {effect['weight_change_T2']:.4f} on average between T = 2 and T = "
        f"{effect['time_steps']}.",
    ]
    if silenced < SPIKES_DECIDE_SHARE * n:
        lines.append("So in this model the spikes decide little: the pictures below show how spiking attention "
                     "works and what its neurons do, while the turn weights mostly follow the features themselves.")
    else:
        lines.append("So in this model the spikes decide a real share of the predictions: the pictures below show "
                     "what decides.")
    return "\n".join(lines)


def without_dswa_sentence(sweep: TimeStepSweep) -> str:
    """What the model predicts with DSWA skipped, against its predictions at the largest T."""
    differ = [(i, label) for i, (label, with_dswa) in enumerate(zip(sweep.without_dswa, sweep.predictions[-1]))
              if label != with_dswa]
    if not differ:
        return ("With the DSWA step skipped, every turn keeps its prediction: here DSWA shifts probabilities, "
                "not decisions.")
    turns = ", ".join(f"turn {i + 1} would be {label}" for i, label in differ)
    return f"With the DSWA step skipped, {turns}: DSWA decides those."


def turn_attention_reading(trace: TurnAttentionTrace, speaker: str, text: str) -> str:
    """What the figures say about the picked turn, in a few sentences (speaker and text are escaped)."""
    turn, head = trace.turn + 1, trace.head + 1
    reading = (f"**Turn {turn} of {trace.num_turns}** ({md(speaker)}: {md(text)}), {md(trace.modality)} stream, "
               f"head {head} of {trace.heads}, T = {trace.time_steps} steps. ")
    for layer in range(trace.layers):
        rates = trace.firing_rates[layer]
        row = trace.coincidence[layer][trace.head, trace.turn]
        partner = int(row.argmax())
        reading += (f"Layer {layer + 1}: over the dialogue, {rates['query']:.0%} of the query slots and "
                    f"{rates['attention']:.0%} of the attention neurons' slots hold a spike; in head {head} this "
                    "turn's query ")
        if row[partner] > 0:
            reading += (f"coincides most with turn {partner + 1}'s key ({row[partner]:.1f} neurons at once on "
                        "average). ")
        else:
            reading += "never fires together with any turn's key, so this head passes it no values. "
    weights = trace.weights_by_step[:, trace.turn] * trace.num_turns
    reading += (f"Its DSWA weight is {weights[0]:.2f}x an average turn after 1 step and {weights[-1]:.2f}x after "
                f"{trace.time_steps}; it stays within 5% of that final value from step "
                f"{settling_step(weights)} on.")
    return reading


def settling_step(series: np.ndarray, tolerance: float = 0.05) -> int:
    """The first step t (1-based) from which every value of `series` stays within `tolerance` (relative) of its
    last value."""
    final = series[-1]
    outside = np.flatnonzero(np.abs(series - final) > tolerance * abs(final))
    return int(outside[-1]) + 2 if outside.size else 1
