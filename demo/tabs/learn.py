"""The Learn tab: one LIF neuron to play with, then the real model's DSWA weights on a bundled example as the
number of time steps T grows."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

import gradio as gr
from matplotlib.figure import Figure

from demo.errors import parse_choice, user_errors
from demo.markup import NO_LATEX, md
from demo.state import AppState
from demo.worker import MODEL_CONCURRENCY_ID, ZERO_GPU, run_sweep
from spikemo.errors import CheckpointError
from spikemo.model.checkpoint import read_checkpoint_summary
from spikemo.viz import plots
from spikemo.viz.lif_teaching import LIFDemoConfig, TimeStepSweep, simulate_lif

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
With few time steps the rates are coarse (a neuron can only fire 0, 1 or 2 times in T=2); with more steps they
become finer, which the paper found helps. Below, the real model runs on a bundled example at T = 2 ... 64:
1 (white) is an average turn, red turns get more weight, blue turns less."""


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


class LearnTab:
    """The Learn tab of one app: its components, events and handlers."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def render(self, blocks: gr.Blocks) -> None:
        """Build the tab inside `blocks` and wire its events (the LIF figure is drawn when the page loads)."""
        with gr.Tab("Learn how the spikes work", id="learn"):
            gr.Markdown(LIF_TEXT)
            with gr.Row():
                current = gr.Slider(0.0, 3.0, value=1.5, step=0.05, label="Input current")
                tau = gr.Slider(1.1, 20.0, value=2.0, step=0.1, label="tau (leak time constant)")
                threshold = gr.Slider(0.1, 3.0, value=1.0, step=0.05, label="Threshold")
                time_steps = gr.Slider(2, 128, value=32, step=1, label="T (time steps)")
                shape = gr.Radio([s.value for s in InputShape], value=InputShape.CONSTANT.value,
                                 label="Input over time")
            lif_plot = gr.Plot(label="LIF neuron", show_label=False, elem_id="lif-plot")
            lif_reading = gr.Markdown()
            gr.Markdown(SSA_TEXT)
            names = [e.name for e in self.state.examples]
            modalities = self.trained_modalities()
            with gr.Row():
                example = gr.Dropdown(names, value=names[0] if names else None, label="Bundled example")
                modality = gr.Dropdown(modalities, value=modalities[0], label="Modality stream")
                sweep_button = gr.Button("Run the model at T = 2 ... 64", variant="primary")
            sweep_plot = gr.Plot(label="DSWA weights over T", show_label=False)
            sweep_text = gr.Markdown(latex_delimiters=NO_LATEX)

        sliders = [current, tau, threshold, time_steps]
        gr.on([blocks.load, *(s.release for s in sliders), shape.input], self.lif, [*sliders, shape],
              [lif_plot, lif_reading], api_name="lif")
        sweep_button.click(self.time_step_sweep, [example, modality], [sweep_plot, sweep_text],
                           concurrency_limit=self.state.config.concurrency_limit,
                           concurrency_id=MODEL_CONCURRENCY_ID, api_name="sweep")

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

    def time_step_sweep(self, example_name: str | None, modality: str | None,
                        progress: gr.Progress = gr.Progress()) -> SweepView:
        """DSWA weights of a bundled example's turns at T = 2 ... 64, with the predictions at each T."""
        example = self.state.example(example_name)
        if example is None:
            raise gr.Error("Pick one of the bundled examples.", title="No example")
        with user_errors("run the model over T"):
            report = None if ZERO_GPU else (
                lambda fraction, stage: progress(0.8 * fraction, desc=f"analysing the example: {stage}"))
            analysis = self.state.example_analysis(example, report)
            progress(0.85, desc="running SpikEmo at T = 2 ... 64")
            sweep = run_sweep(self.state.model_setup(), analysis.conversation)
        modality = modality if modality in sweep.weights else next(iter(sweep.weights))
        changes = [i for i in range(len(analysis.conversation))
                   if len({row[i] for row in sweep.predictions}) > 1]
        text = (f"{len(analysis.conversation)} turns of {md(example.name)}, {md(modality)} stream. Predictions at "
                f"T={sweep.time_steps[-1]}: " + ", ".join(sweep.predictions[-1]) + ". ")
        text += (f"The predicted emotion changes with T for turn(s) {', '.join(str(i + 1) for i in changes)}. "
                 if changes else "No turn's predicted emotion changes with T. ")
        return SweepView(plots.plot_time_step_sweep(sweep, modality), text + without_dswa_sentence(sweep))


def without_dswa_sentence(sweep: TimeStepSweep) -> str:
    """What the model predicts with DSWA skipped, against its predictions at the largest T."""
    differ = [(i, label) for i, (label, with_dswa) in enumerate(zip(sweep.without_dswa, sweep.predictions[-1]))
              if label != with_dswa]
    if not differ:
        return ("With the DSWA step skipped, every turn keeps its prediction: here DSWA shifts probabilities, "
                "not decisions.")
    turns = ", ".join(f"turn {i + 1} would be {label}" for i, label in differ)
    return f"With the DSWA step skipped, {turns}: DSWA decides those."
