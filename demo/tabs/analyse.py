"""The Analyse tab: upload a video (or pick a bundled example), run the pipeline, then browse its turns."""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import NamedTuple

import gradio as gr

from demo.config import DEFAULT_SPEECH_MODEL, AppConfig, SpeechModel, example_label
from demo.controls import position_slider
from demo.errors import parse_choice, user_errors
from demo.markup import NO_LATEX, html_text, md
from demo.queue_events import Cancelled, current_event, request_watch, session_events, waiting_events
from demo.state import AppState, QueueView, Refusal
from demo.tabs.analyse_views import (
    HOW_TO_READ,
    TURN_TABLE_WIDTHS,
    AnalysisResult,
    RowSelection,
    TurnView,
    analysis_summary,
    modality_statement,
    spike_figures,
    turn_details,
    turn_rows,
)
from demo.worker import MODEL_CONCURRENCY_ID, ZERO_GPU, run_analysis
from spikemo.data.transcript import load_transcript
from spikemo.video.analysis import Analysis
from spikemo.video.media import check_video
from spikemo.viz import plots

TEXT = """Pick an example or upload a video (up to {minutes:g} minutes), then **Analyse**. A transcript (.srt, .vtt
or MELD .csv with times) replaces speech recognition."""

logger = logging.getLogger(__name__)

TRANSCRIPT_SUFFIXES = (".srt", ".vtt", ".csv")
NO_TRANSCRIPT = "No transcript attached: speech recognition will find the words."
EXAMPLE_TRANSCRIPT_REMOVED = ("The example's transcript was not used and was removed: it belongs to the example's "
                              "video. Speech recognition found the words; attach a transcript of this video to "
                              "replace it.")
ANALYSE_API = "analyse"
class RunControls(NamedTuple):
    """The components that start, stop and report an analysis."""

    analyse_button: gr.Button
    stop_button: gr.Button
    api_button: gr.Button  # hidden: /analyse for programs
    status: gr.Markdown
    transcript: gr.File
    transcript_note: gr.Markdown


class AnalyseTab:
    """The Analyse tab of one app: its components, events and handlers."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def render(self) -> gr.State:
        """Build the tab inside the current Blocks and wire its events; returns the state holding the visitor's
        last analysis (the Learn tab can show it)."""
        config = self.state.config
        with gr.Tab("Analyse", id="analyse"):
            gr.Markdown(TEXT.format(minutes=config.max_video_seconds / 60))
            with gr.Row():
                with gr.Column(scale=2):
                    inputs, run = self._inputs()
                with gr.Column(scale=3):
                    # What the prediction rests on (e.g. text only), at the top of the results: a banner that
                    # stays, where a toast would cover the timeline. Empty (and hidden, see app.LAYOUT_CSS) until
                    # the first analysis; a plain string, so API clients get text rather than a visibility update.
                    notice = gr.Markdown(label="notice", show_label=False, elem_id="analysis-notice",
                                         elem_classes="notice-banner", latex_delimiters=NO_LATEX)
                    summary = gr.Markdown(label="summary", show_label=False, elem_id="analysis-summary",
                                          latex_delimiters=NO_LATEX)
                    timeline = gr.Plot(label="Emotion timeline", show_label=False, elem_id="timeline-plot")
                    gr.Markdown(HOW_TO_READ["timeline"], elem_classes="caption")
                    cue_strips = gr.Plot(label="Model vs. face and voice cues", show_label=False,
                                         elem_id="cues-plot")
                    gr.Markdown(HOW_TO_READ["cues"], elem_classes="caption")
            turn_table = gr.Dataframe(label="Turns (select a row for details)", interactive=False, wrap=True,
                                      column_widths=TURN_TABLE_WIDTHS, elem_id="turn-table")
            with gr.Row():
                turn = gr.Slider(1, 2, value=1, step=1, label="Turn", interactive=False)
                layer = gr.Dropdown(label="Spiking layer", choices=[], interactive=True)
            with gr.Row():
                with gr.Column():
                    details = gr.Markdown(label="turn details", show_label=False, elem_id="turn-details",
                                          latex_delimiters=NO_LATEX)
                with gr.Column():
                    turn_probabilities = gr.Plot(label="Probabilities of the selected turn", show_label=False)
            with gr.Row():
                with gr.Column():
                    heatmap = gr.Plot(label="DSWA spike-attention weights (turns x modalities)", show_label=False,
                                      elem_id="heatmap-plot")
                    gr.Markdown(HOW_TO_READ["heatmap"], elem_classes="caption")
                with gr.Column():
                    probabilities = gr.Plot(label="Probabilities per turn", show_label=False,
                                            elem_id="probabilities-plot")
                    gr.Markdown(HOW_TO_READ["probabilities"], elem_classes="caption")
            with gr.Row():
                with gr.Column():
                    raster = gr.Plot(label="Spike raster of the selected turn", show_label=False)
                    gr.Markdown(HOW_TO_READ["raster"], elem_classes="caption")
                with gr.Column():
                    rates = gr.Plot(label="Spike rate over time steps", show_label=False)
                    gr.Markdown(HOW_TO_READ["rates"], elem_classes="caption")
            downloads = gr.File(label="Download the analysis (JSON and CSV)", file_count="multiple")
            with gr.Accordion("The analysis as JSON data", open=False):
                record = gr.JSON(label="analysis (JSON)", elem_id="analysis-json")
            analysis = gr.State()

        turn_view = [details, turn_probabilities, raster, rates, heatmap]
        outputs = [analysis, summary, turn_table, timeline, probabilities, heatmap, cue_strips, turn, layer,
                   downloads, notice, record]
        self._wire_runs(run, inputs, outputs, [analysis, turn, layer], turn_view)
        turn_table.select(self.select_row, [analysis, layer], [turn, *turn_view], api_name=False)
        gr.on([turn.release, layer.input], self.select_turn, [analysis, turn, layer], turn_view,
              api_name="select_turn")
        return analysis

    def _inputs(self) -> tuple[list, RunControls]:
        """The left column: examples, video, Analyse and Stop, the status panel, then the options. Returns the
        analysis inputs (video, transcript, speakers, speech model) and the run's controls."""
        video = gr.Video(label="Video", sources=["upload"], height=220, elem_id="video-input",
                         render=False)
        transcript = gr.File(label="Transcript (optional)", file_types=list(TRANSCRIPT_SUFFIXES),
                             height=130, elem_id="transcript-input", render=False)
        # First what a visitor can try at once, then the button: above the fold on a laptop screen.
        self._examples(video, transcript)
        video.render()
        transcript_note = gr.Markdown(NO_TRANSCRIPT, label="transcript attached", show_label=False,
                                      elem_id="transcript-note", latex_delimiters=NO_LATEX)
        with gr.Row(elem_classes="pager"):  # one line on a phone too
            analyse_button = gr.Button("Analyse", variant="primary", elem_id="analyse-button")
            stop_button = gr.Button("Stop", variant="stop", interactive=False, elem_id="stop-button")
        # The one progress display, and where a refusal's message stays until the next action.
        status = gr.Markdown(label="status", show_label=False, elem_id="analysis-status",
                             latex_delimiters=NO_LATEX)
        transcript.render()
        with gr.Row():
            num_speakers = gr.Number(label="Speakers (0: estimate from the voices)", precision=0,
                                     minimum=0, maximum=9, value=0)
            speech_model = gr.Radio([m.value for m in SpeechModel], value=DEFAULT_SPEECH_MODEL.value,
                                    label="Speech model")
        api_analyse = gr.Button(visible=False)  # /analyse for programs: errors raise, as they expect
        run = RunControls(analyse_button, stop_button, api_analyse, status, transcript, transcript_note)
        return [video, transcript, num_speakers, speech_model], run

    def _examples(self, video: gr.Video, transcript: gr.File) -> None:
        """The bundled examples, a picture and a name each: a click fills the video and its transcript (if any)."""
        examples = self.state.examples
        if not examples:
            return
        gallery = gr.Gallery(
            [(str(picture), example_label(e)) for e, picture in zip(examples, self.state.example_thumbnails())],
            label="Examples (generated, licence-clean): pick one, then Analyse", columns=len(examples), height=245,
            object_fit="cover", allow_preview=False, buttons=[], interactive=False, elem_id="examples")
        gallery.select(self.pick_example, None, [video, transcript], api_name=False)

    def pick_example(self, selected: gr.SelectData) -> tuple[str, str | None]:
        """The picked example's video and its transcript (None: speech recognition)."""
        example = self.state.examples[selected.index]
        return str(example.video), str(example.transcript) if example.transcript else None

    def _wire_runs(self, run: RunControls, inputs: list, outputs: list, selection: list, turn_view: list) -> None:
        """Analyse from the page (Analyse disabled while it runs, Stop, messages in the status panel) and from
        programs (/analyse, whose errors raise), both then showing the first turn; one model run at a time."""
        model_run = dict(concurrency_limit=self.state.config.concurrency_limit, concurrency_id=MODEL_CONCURRENCY_ID,
                         validator=self.admit)
        controls = [run.analyse_button, run.stop_button, run.status]
        in_page = run.analyse_button.click(self.run_started, None, controls, queue=False, api_name=False).then(
            self.analyse_in_page, inputs, [*outputs, run.status, run.transcript, run.transcript_note],
            show_progress_on=[run.status], api_name=False, **model_run)
        in_page.then(self.run_ended, None, [run.analyse_button, run.stop_button], queue=False, api_name=False)
        in_page.success(self.select_turn, selection, turn_view, api_name=False)
        run.stop_button.click(self.run_stopped, None, controls, cancels=[in_page], queue=False, api_name=False)
        run.api_button.click(self.analyse, inputs, outputs, api_name=ANALYSE_API, **model_run).success(
            self.select_turn, selection, turn_view, api_name=False)

    def transcript_for(self, video: str | None, transcript: str | None) -> tuple[str | None, str]:
        """The transcript an analysis of `video` may use, and the note naming it. A bundled example's transcript
        belongs to that example's video: with any other video it is dropped (it would describe someone else's
        conversation); a transcript the visitor uploaded stays."""
        if not transcript:
            return None, NO_TRANSCRIPT
        example = self.state.example_for_transcript(Path(transcript))
        if example is not None and not (video and self.state.is_example_video(Path(video), example)):
            return None, EXAMPLE_TRANSCRIPT_REMOVED
        origin = f"the bundled example {md(example.name)}" if example else "uploaded"
        return transcript, (f"Transcript attached: **{md(Path(transcript).name)}** ({origin}); it replaced speech "
                            "recognition.")

    @staticmethod
    def run_started() -> tuple[dict, dict, str]:
        """Analyse is clicked: it stays disabled until the run ends, Stop is offered, the last message goes."""
        return gr.update(interactive=False), gr.update(interactive=True), "Starting the analysis..."

    @staticmethod
    def run_ended() -> tuple[dict, dict]:
        return gr.update(interactive=True), gr.update(interactive=False)

    @staticmethod
    def run_stopped() -> tuple[dict, dict, str]:
        return gr.update(interactive=True), gr.update(interactive=False), "**Stopped.** Nothing was analysed."

    def analyse_in_page(self, video: str | None, transcript: str | None = None, num_speakers: float | None = 0,
                        speech_model: str = DEFAULT_SPEECH_MODEL.value,
                        progress: gr.Progress = gr.Progress()) -> tuple:
        """`analyse` for the page: a refusal or failure becomes a message in the status panel, where it stays
        until the next action (a toast fades, and red badges on every output say nothing), and the views keep
        the previous analysis; a success says what was analysed and how long it took. The transcript note says
        which transcript the run used (`transcript_for`)."""
        started = time.perf_counter()
        transcript, note = self.transcript_for(video, transcript)
        kept = gr.skip() if transcript else None  # an example's transcript dropped here leaves the page too
        try:
            result = self.analyse(video, transcript, num_speakers, speech_model, progress)
        except gr.Error as error:
            title = f"**{md(error.title)}:** " if error.title and error.title != "Error" else ""
            message = title + md(html.unescape(str(error.message)))
            return (*(gr.skip() for _ in AnalysisResult._fields), message, kept, note)
        done = f"Analysed **{md(result.analysis.video_name)}** in {time.perf_counter() - started:.1f} s."
        return (*result, done, kept, note)

    def admit(self, video: str | None, transcript: str | None, num_speakers: float | None, speech_model: str,
              request: gr.Request) -> tuple[dict, ...]:
        """Gradio's validator of the Analyse event, run as a submit enters the queue: refuse a session (a browser
        tab or an API client) that already has max_analyses_per_session analyses waiting or running, so that one
        client cannot fill the queue. The message shows on the video input (gradio_client: ValidationError)."""
        session = request.session_hash if request is not None else None
        if session is None:
            return gr.validate(True, ""), *(gr.validate(True, "") for _ in range(3))
        view = QueueView(session_events(None, ANALYSE_API), waiting_events())
        refusal = self.state.admit(session, session_events(session, ANALYSE_API), view)
        if refusal is not None:
            logger.info("session %s: refused (%s)", session[:8], refusal)
        message = "" if refusal is None else refusal_message(refusal, self.state.config)
        return gr.validate(refusal is None, message), *(gr.validate(True, "") for _ in range(3))

    def analyse(self, video: str | None, transcript: str | None = None, num_speakers: float | None = 0,
                speech_model: str = DEFAULT_SPEECH_MODEL.value,
                progress: gr.Progress = gr.Progress()) -> AnalysisResult:
        """Run the pipeline on an uploaded video (+ optional transcript); every result view of the first turn.

        Each progress report first checks that the client still waits: a cancelled or disconnected request stops
        at the pipeline's next stage, and its request folder goes with it. One log line per request says its
        session, outcome (done, cancelled, abandoned or failed) and duration."""
        event = current_event()
        if event is not None:
            self.state.started(*event)  # its admission (see `admit`) is settled: the queue counts it from now
        started, outcome = time.perf_counter(), "failed"
        try:
            result = self._analyse(video, transcript, num_speakers, speech_model, progress)
            outcome = "done"
            return result
        except Cancelled as stop:
            outcome = stop.reason
            raise gr.Error("The analysis was cancelled.", title="Cancelled", print_exception=False) from None
        finally:
            logger.info("session %s: analysis %s after %.1f s", event[0][:8] if event else "-", outcome,
                        time.perf_counter() - started)

    def _analyse(self, video: str | None, transcript: str | None, num_speakers: float | None, speech_model: str,
                 progress: gr.Progress) -> AnalysisResult:
        if not video:
            raise gr.Error("Upload a video or pick one of the examples first.", title="No video")
        if transcript and Path(transcript).suffix.lower() not in TRANSCRIPT_SUFFIXES:
            raise gr.Error(f"The transcript must be an SRT, WebVTT or MELD CSV file (.srt, .vtt, .csv); got "
                           f"'{html_text(Path(transcript).name)}'.", title="Unsupported transcript")
        model = parse_choice(SpeechModel, speech_model, f"Pick a speech model among "
                             f"{', '.join(m.value for m in SpeechModel)}.", "Unknown speech model")
        speakers = int(num_speakers) if num_speakers else None
        setup = self.state.model_setup()
        gone = request_watch()

        def report(fraction: float, stage: str) -> None:
            if reason := gone():
                raise Cancelled(reason, stage)
            progress(fraction, desc=stage)

        with user_errors("analyse the video"), self.state.request_folder() as scratch:
            # The checks that need no model, with the pipeline's limits (as the CLI does): a bad video or
            # transcript is refused in a second, before the models load or a GPU is claimed.
            report(0.0, "checking the video")
            info = check_video(video, setup.pipeline.media)
            if transcript:
                load_transcript(transcript, info.duration, setup.pipeline.transcript)
            report(0.0, "loading the models")
            # ZeroGPU runs the analysis in another process, where this check cannot follow.
            analysis = run_analysis(setup, video, transcript, speakers, model.value, None if ZERO_GPU else report)
            report(1.0, "writing the downloads")
            if not analysis.conversation.utterances:
                raise gr.Error("No speech was found in this video, so there are no turns to analyse.",
                               title="No speech")
            return self.present(analysis, scratch)  # the warnings show in the banner and the summary's notes

    def present(self, analysis: Analysis, scratch: Path) -> AnalysisResult:
        """Every view of a finished analysis (the first turn selected), and its JSON and CSV downloads (written in
        the request's folder `scratch`, then kept for the user to fetch)."""
        stem = Path(analysis.video_name).stem
        written = [scratch / f"{stem}-spikemo{suffix}" for suffix in (".json", ".csv")]
        for path in written:
            analysis.write(path)
        downloads = [str(path) for path in self.state.keep_downloads(written, stem)]
        conversation = analysis.conversation
        layers = list(analysis.spikes)
        face = [c.face_expression for c in analysis.cues]
        voice = [c.voice_emotion for c in analysis.cues]
        return AnalysisResult(
            analysis=analysis,
            summary=analysis_summary(analysis),
            turn_table=turn_rows(analysis),
            timeline=plots.plot_emotion_timeline(
                conversation, analysis.duration, analysis.labels,
                speech=[(t.start, t.end, t.speaker) for t in analysis.speaker_timeline]),
            probabilities=plots.plot_turn_probabilities(conversation, analysis.labels),
            heatmap=plots.plot_dswa_heatmap(conversation, selected=0),
            cue_strips=plots.plot_label_strips(
                {"model": [u.prediction.emotion for u in conversation.utterances], "face cue": face,
                 "voice cue": voice},
                analysis.labels, title="Model vs. face and voice cues (hatched: differ)"),
            turn=position_slider(len(conversation)),
            layer=gr.update(choices=layers, value=layers[0] if layers else None),
            downloads=downloads,
            notice=modality_statement(analysis.modalities_trained, analysis.modalities_used),
            record=analysis.to_dict(),
        )

    def select_turn(self, analysis: Analysis | None, turn: float | None, layer: str | None = None) -> TurnView:
        """Details, probability bars, spike raster and rates of turn number `turn` (1-based)."""
        if analysis is None:
            raise gr.Error("Analyse a video first.", title="Nothing analysed yet")
        length = len(analysis.conversation.utterances)
        if turn is None or not 1 <= int(turn) <= length:
            raise gr.Error(f"Pick a turn between 1 and {length}.", title="No such turn")
        index = int(turn) - 1
        utterance = analysis.conversation.utterances[index]
        raster, rates = spike_figures(analysis, index, layer)
        return TurnView(
            details=turn_details(analysis, index),
            turn_probabilities=plots.plot_probabilities(utterance.prediction.probabilities,
                                                        title=f"Turn {index + 1}"),
            raster=raster,
            rates=rates,
            heatmap=plots.plot_dswa_heatmap(analysis.conversation, selected=index),
        )

    def select_row(self, analysis: Analysis | None, layer: str | None, event: gr.SelectData) -> RowSelection:
        """A click in the turn table: move the turn slider to that row and show its turn."""
        if analysis is None:
            raise gr.Error("Analyse a video first.", title="Nothing analysed yet")
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        return RowSelection(int(row) + 1, *self.select_turn(analysis, int(row) + 1, layer))



def refusal_message(refusal: Refusal, config: AppConfig) -> str:
    """What a refused submit is told."""
    if refusal is Refusal.SESSION_LIMIT:
        limit = config.max_analyses_per_session
        return (f"You already have {limit} {'analysis' if limit == 1 else 'analyses'} waiting or running: wait for "
                "one to finish (or cancel it) before you start another.")
    return (f"The queue is full ({config.max_queue_size} analyses are waiting for this app's worker): try again in "
            "a minute.")
