"""The Blocks layout: three tabs wired to SpikEmoApp's handlers. No model logic lives here."""

from __future__ import annotations

import threading

import gradio as gr

from demo.callbacks import SORT_ORDERS, SPEECH_MODELS, AppConfig, SpikEmoApp
from spikemo.viz.lif_teaching import INPUT_SHAPES

INTRO = """# SpikEmo: emotions in conversations, with spiking temporal attention
Upload a video of a conversation: SpikEmo finds who speaks when, transcribes the words, and predicts an emotion
for every turn with a spiking network (SpikEmo, arXiv 2411.13917). The tabs show what it predicts, where it goes
wrong on MELD, and how its spiking neurons work."""

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

TAB_ANALYSE_TEXT = """Upload a video (up to {minutes:g} minutes), or click an example below and then **Analyse**.
A transcript (.srt, .vtt or MELD .csv with times) replaces speech recognition. Then select a row of the turn
table (or move the turn slider) to see that turn's probabilities, DSWA weight and spikes."""

TAB_INSPECT_TEXT = """Score the checkpoint on a MELD-format CSV (from the data folder, or upload your own with
Utterance, Speaker, Dialogue_ID, Utterance_ID and Emotion columns). The first scoring of a file takes a while on
a CPU; it is then cached for this checkpoint. The *without DSWA* column is what the same model predicts with its
DSWA step skipped: where it differs from *predicted*, DSWA made the decision."""


def build_demo(config: AppConfig | None = None) -> gr.Blocks:
    """The app's Blocks (queue configured); `launch` serves them."""
    app = SpikEmoApp(config)
    limit = app.config.concurrency_limit
    with gr.Blocks(title="SpikEmo", delete_cache=(1800, 3600)) as blocks:
        blocks.spikemo_app = app  # the handlers' owner, for launch() and tests
        gr.Markdown(INTRO)
        gr.Markdown(app.status_markdown(), elem_id="checkpoint-status")

        with gr.Tab("Analyse", id="analyse"):
            gr.Markdown(TAB_ANALYSE_TEXT.format(minutes=app.config.max_video_seconds / 60))
            with gr.Row():
                with gr.Column(scale=2):
                    video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
                    transcript = gr.File(label="Transcript (optional)", file_types=[".srt", ".vtt", ".csv"])
                    with gr.Row():
                        num_speakers = gr.Number(label="Speakers (0: estimate from the voices)", precision=0,
                                                 minimum=0, maximum=9, value=0)
                        speech_model = gr.Radio(list(SPEECH_MODELS), value=SPEECH_MODELS[0], label="Speech model")
                    analyse_button = gr.Button("Analyse", variant="primary", elem_id="analyse-button")
                    if app.examples:
                        gr.Examples(
                            [[str(e.video), str(e.transcript) if e.transcript else None] for e in app.examples],
                            inputs=[video, transcript], label="Bundled examples (generated, licence-clean)",
                        )
                with gr.Column(scale=3):
                    summary = gr.Markdown(elem_id="analysis-summary")
                    timeline = gr.Plot(label="Emotion timeline", show_label=False, elem_id="timeline-plot")
                    cue_strips = gr.Plot(label="Model vs. face cue", show_label=False, elem_id="cues-plot")
            table = gr.Dataframe(label="Turns (select a row for details)", interactive=False, wrap=True,
                                 elem_id="turn-table")
            with gr.Row():
                turn = gr.Slider(1, 2, value=1, step=1, label="Turn", interactive=False)
                layer = gr.Dropdown(label="Spiking layer", choices=[], interactive=True)
            with gr.Row():
                with gr.Column():
                    details = gr.Markdown(elem_id="turn-details")
                with gr.Column():
                    turn_probabilities = gr.Plot(label="Probabilities of the selected turn", show_label=False)
            with gr.Row():
                heatmap = gr.Plot(label="DSWA spike-attention weights (modalities x turns)", show_label=False,
                                  elem_id="heatmap-plot")
                probabilities = gr.Plot(label="Probabilities per turn", show_label=False)
            with gr.Row():
                raster = gr.Plot(label="Spike raster of the selected turn", show_label=False)
                rates = gr.Plot(label="Spike rate over time steps", show_label=False)
            downloads = gr.File(label="Download the analysis (JSON and CSV)", file_count="multiple")
            analysis = gr.State()

        with gr.Tab("Inspect errors", id="inspect"):
            gr.Markdown(TAB_INSPECT_TEXT)
            files = app.data_files()
            with gr.Row():
                data_file = gr.Dropdown(files, value=next((f for f in files if "dev" in f), None),
                                        label=f"CSV in {app.config.data_dir}")
                upload = gr.File(label="...or upload a MELD-format CSV", file_types=[".csv"])
                score_button = gr.Button("Score", variant="primary", elem_id="score-button")
            score_summary = gr.Markdown(elem_id="score-summary")
            with gr.Row():
                per_class = gr.Plot(label="Per-class F1", show_label=False)
                confusion = gr.Plot(label="Confusion matrix", show_label=False)
            with gr.Row():
                errors_only = gr.Checkbox(value=True, label="Errors only")
                sort = gr.Dropdown(list(SORT_ORDERS), value=SORT_ORDERS[1], label="Sort")
            file_errors = gr.Dataframe(label="Across the file (first 200 rows)", interactive=False, wrap=True,
                                       max_height=320, elem_id="file-errors")
            dialogue = gr.Dropdown(label="Dialogue", choices=[])
            dialogue_table = gr.Dataframe(label="Gold vs predicted (errors shaded)", interactive=False, wrap=True)
            dialogue_strips = gr.Plot(label="Gold vs predicted", show_label=False)
            with gr.Row():
                dialogue_heatmap = gr.Plot(label="DSWA weights", show_label=False)
                dialogue_probabilities = gr.Plot(label="Probabilities per turn", show_label=False)
            scored_key = gr.State()

        with gr.Tab("Learn how the spikes work", id="learn"):
            gr.Markdown(LIF_TEXT)
            with gr.Row():
                current = gr.Slider(0.0, 3.0, value=1.5, step=0.05, label="Input current")
                tau = gr.Slider(1.1, 20.0, value=2.0, step=0.1, label="tau (leak time constant)")
                threshold = gr.Slider(0.1, 3.0, value=1.0, step=0.05, label="Threshold")
                time_steps = gr.Slider(2, 128, value=32, step=1, label="T (time steps)")
                shape = gr.Radio(list(INPUT_SHAPES), value=INPUT_SHAPES[0], label="Input over time")
            lif_plot = gr.Plot(label="LIF neuron", show_label=False, elem_id="lif-plot")
            lif_reading = gr.Markdown()
            gr.Markdown(SSA_TEXT)
            names = app.example_names()
            modalities = app.trained_modalities()
            with gr.Row():
                example = gr.Dropdown(names, value=names[0] if names else None, label="Bundled example")
                modality = gr.Dropdown(modalities, value=modalities[0], label="Modality stream")
                sweep_button = gr.Button("Run the model at T = 2 ... 64", variant="primary")
            sweep_plot = gr.Plot(label="DSWA weights over T", show_label=False)
            sweep_text = gr.Markdown()

        # Analyse
        turn_outputs = [details, turn_probabilities, raster, rates, heatmap]
        analyse_button.click(
            app.analyse, [video, transcript, num_speakers, speech_model],
            [analysis, summary, table, timeline, probabilities, heatmap, cue_strips, turn, layer, downloads],
            concurrency_limit=limit, concurrency_id="model", api_name="analyse",
        ).success(app.select_turn, [analysis, turn, layer], turn_outputs, api_name=False)
        table.select(app.select_row, [analysis, layer], [turn, *turn_outputs], api_name=False)
        gr.on([turn.release, layer.input], app.select_turn, [analysis, turn, layer], turn_outputs,
              api_name="select_turn")

        # Inspect errors
        score_button.click(
            app.score, [data_file, upload], [scored_key, score_summary, per_class, confusion, dialogue],
            concurrency_limit=limit, concurrency_id="model", api_name="score",
        ).success(app.file_errors, [scored_key, errors_only, sort], file_errors, api_name=False)
        dialogue_args = [scored_key, dialogue, errors_only, sort]
        dialogue_outputs = [dialogue_table, dialogue_strips, dialogue_heatmap, dialogue_probabilities]
        dialogue.change(app.show_dialogue, dialogue_args, dialogue_outputs, api_name="show_dialogue")
        gr.on([errors_only.input, sort.input], app.show_dialogue, dialogue_args, dialogue_outputs, api_name=False)
        gr.on([errors_only.input, sort.input], app.file_errors, [scored_key, errors_only, sort], file_errors,
              api_name=False)

        # Learn
        lif_inputs = [current, tau, threshold, time_steps, shape]
        gr.on([blocks.load, *(c.release for c in lif_inputs[:4]), shape.input], app.lif, lif_inputs,
              [lif_plot, lif_reading], api_name="lif")
        sweep_button.click(app.time_step_sweep, [example, modality], [sweep_plot, sweep_text],
                           concurrency_limit=limit, concurrency_id="model", api_name="sweep")

    blocks.queue(default_concurrency_limit=4, max_size=app.config.max_queue_size)
    return blocks


def launch(blocks: gr.Blocks, host: str | None = None, port: int | None = None, warm_up: bool = True,
           **kwargs) -> None:
    """Serve the app: load the models in the background (the page is up at once), limit uploads."""
    app: SpikEmoApp = blocks.spikemo_app
    if warm_up:
        threading.Thread(target=app.warm_up, name="spikemo-warm-up", daemon=True).start()
    blocks.launch(
        server_name=host, server_port=port, max_file_size=f"{app.config.max_upload_mb}mb",
        allowed_paths=[str(app.config.examples_dir)], **kwargs,
    )
