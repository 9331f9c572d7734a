"""The Learn tab: what the spikes decide in this model (measured, from its checkpoint), one LIF neuron to play
with, then the real model's DSWA weights on a conversation (a bundled example or the visitor's last analysis) as
the number of time steps T grows, the neurons of a conversation-time DSWA across the dialogue, then spiking
self-attention inside the model, seen from one of its turns. The words and readings are in learn_views."""

from __future__ import annotations

from enum import StrEnum

import gradio as gr

from demo.controls import position_slider
from demo.errors import parse_choice, user_errors
from demo.markup import NO_LATEX, md
from demo.state import AppState
from demo.tabs.learn_views import (
    ATTENTION_TEXT,
    COINCIDENCE_TEXT,
    LIF_TEXT,
    NEURONS_TEXT,
    OUTPUT_TEXT,
    RASTER_TEXT,
    SSA_TEXT,
    WEIGHTS_TEXT,
    YOUR_ANALYSIS,
    AttentionView,
    LIFView,
    NeuronsView,
    SweepView,
    conversation_neurons_reading,
    measured_effect_text,
    no_conversation_neurons_text,
    turn_attention_reading,
    turn_label,
    without_dswa_sentence,
)
from demo.worker import (
    MODEL_CONCURRENCY_ID,
    ZERO_GPU,
    run_conversation_neurons,
    run_sweep,
    run_turn_attention,
)
from spikemo.data.conversation import Conversation
from spikemo.errors import CheckpointError
from spikemo.model.checkpoint import read_checkpoint_summary
from spikemo.model.configuration import SpikEmoConfig
from spikemo.model.modeling import read_pretrained_config
from spikemo.video.analysis import Analysis
from spikemo.viz import plots, ssa_plots
from spikemo.viz.lif_teaching import LIFDemoConfig, simulate_lif


class InputShape(StrEnum):
    """The input currents the LIF demo offers (spikemo.viz.lif_teaching.INPUT_SHAPES)."""

    CONSTANT = "constant"
    RAMP = "ramp"
    PULSES = "pulses"


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
            gr.Markdown(NEURONS_TEXT)
            neurons_button = gr.Button("Show the neurons across the dialogue", elem_id="neurons-button")
            neurons_reading = gr.Markdown(label="neurons reading", show_label=False, latex_delimiters=NO_LATEX,
                                          elem_id="neurons-reading")
            neurons_plot = gr.Plot(label="Neurons across the dialogue", show_label=False, elem_id="neurons-plot")
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
        neurons_button.click(self.conversation_neurons, [example, modality, analysis], [neurons_plot, neurons_reading],
                             concurrency_limit=self.state.config.concurrency_limit,
                             concurrency_id=MODEL_CONCURRENCY_ID, api_name="conversation_neurons")
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

    def conversation_neurons(self, choice: str | None, modality: str | None, analysis: Analysis | None = None,
                             progress: gr.Progress = gr.Progress()) -> NeuronsView:
        """The conversation-time DSWA's neurons across the picked conversation, or why this checkpoint has none."""
        variant = self.dswa_variant()
        if variant != "conversation":
            return NeuronsView(plots.empty_figure("No neurons carry from turn to turn in this checkpoint."),
                               no_conversation_neurons_text(variant))
        if not modality:
            raise gr.Error("Pick a modality stream.", title="No modality")
        with user_errors("show the neurons across the dialogue"):
            name, conversation = self.conversation(choice, analysis, progress)
            progress(0.85, desc="running the neurons over the dialogue")
            trace = run_conversation_neurons(self.state.model_setup(), conversation, modality)
        labels = [turn_label(i, u.speaker) for i, u in enumerate(conversation.utterances)]
        return NeuronsView(ssa_plots.plot_conversation_neurons(trace, labels),
                           conversation_neurons_reading(trace, name))

    def dswa_variant(self) -> str | None:
        """The checkpoint's DSWA variant (None without DSWA or without a readable checkpoint)."""
        try:
            model = SpikEmoConfig.from_dict(read_pretrained_config(self.state.config.checkpoint_dir)["model"])
        except (CheckpointError, KeyError, TypeError, ValueError):
            return None
        return model.dswa_variant if model.use_dswa else None

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
