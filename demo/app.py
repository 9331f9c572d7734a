"""The page around the tabs: the introduction, the checkpoint's status line, the three tabs and the queue; and
`launch`, which serves it."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from demo.config import AppConfig
from demo.markup import NO_LATEX, md
from demo.state import AppState
from demo.tabs.analyse import AnalyseTab
from demo.tabs.analyse_views import VOICE_CUE_NOTE, modality_statement
from demo.tabs.inspect import InspectTab
from demo.tabs.learn import LearnTab
from spikemo.errors import CheckpointError
from spikemo.model.checkpoint import read_checkpoint_summary
from spikemo.model.modeling import CONFIG_NAME

logger = logging.getLogger(__name__)

HEADER = "# SpikEmo: emotions in video conversations, with spiking attention"
INTRO = """Upload a video of a conversation: SpikEmo finds who speaks when, transcribes the words, and predicts an
emotion for every turn with a spiking network (SpikEmo, arXiv 2411.13917). The tabs show what it predicts, where it
goes wrong on MELD, and how its spiking neurons work."""

# Below ~700 px (a phone) every row stacks, so each plot, table and control takes the whole width instead of
# sharing it; a row marked "pager" (previous / page / next) stays one line. A "notice-banner" Markdown (the Analyse
# tab's note on which modalities the prediction rests on) stands out from the text around it, in light and dark
# themes, and takes no room while it is empty (Gradio 6 puts the class on the block and on its inner .prose, and
# the text in a .md span). Gradio 6 takes page CSS at launch() and scopes every selector to the app's container.
LAYOUT_CSS = """
#turn-table { --text-md: 14px; --text-sm: 13px; --text-lg: 14px; --size-2: 3px; --size-3: 4px;
              --font-mono: var(--font); }
.block.notice-banner:has(.md:empty) { display: none; }
.prose.notice-banner { border-left: 4px solid #f59e0b; background: rgba(245, 158, 11, 0.12); padding: 8px 12px; }
@media (max-width: 700px) {
  /* the turn table on a phone: time, speaker, text, emotion and confidence; the cues are in the turn's details */
  #turn-table :is([aria-colindex="1"], [aria-colindex="7"], [aria-colindex="8"], [aria-colindex="9"],
                  [aria-colindex="10"], [aria-colindex="11"]) { display: none; }
  #turn-table { --text-md: 12px; --text-sm: 12px; --text-lg: 12px; }
  #turn-table [aria-colindex="2"] { width: 46px !important; min-width: 46px !important; max-width: 46px !important; }
  #turn-table [aria-colindex="3"] { width: 64px !important; min-width: 64px !important; max-width: 64px !important; }
  #turn-table [aria-colindex="4"] { width: auto !important; min-width: 96px !important; max-width: none !important; }
  #turn-table [aria-colindex="5"] { width: 64px !important; min-width: 64px !important; max-width: 64px !important; }
  #turn-table [aria-colindex="6"] { width: 40px !important; min-width: 40px !important; max-width: 40px !important; }
  #turn-table table { width: 100% !important; }
  .row:not(.pager) { flex-direction: column; }
  .row:not(.pager) > *, .row:not(.pager) > .form > * {
    flex: 1 1 100% !important; width: 100% !important; min-width: 0 !important;
  }
}
"""


def checkpoint_status(directory: Path) -> str:
    """A short description of the checkpoint folder (its modalities and recorded dev F1), or why none is loaded;
    the folder's path and the error escaped, so they show as text."""
    if not (directory / CONFIG_NAME).is_file():
        return (f"**No checkpoint found at {md(directory)}.** Analysis and error inspection need one: set "
                "`SPIKEMO_CHECKPOINT` to a checkpoint folder (or pass `--checkpoint` to app.py). "
                "The LIF neuron demo works without it.")
    try:
        summary = read_checkpoint_summary(directory)
    except CheckpointError as error:
        return f"**The checkpoint at {md(directory)} cannot be read:** {md(error)}."
    status = f"Checkpoint: {md(directory.name)}. " + modality_statement(summary.modalities)
    if summary.dev_weighted_f1 is not None:
        status += f" Dev weighted F1 recorded in its metadata: {summary.dev_weighted_f1:.2f}."
    return status


def build_demo(config: AppConfig | None = None) -> gr.Blocks:
    """The app's Blocks with its queue configured; `launch` serves them."""
    state = AppState(config)
    # Read by each component as it is built and by the server as it starts: uploads land in the app's folder.
    os.environ["GRADIO_TEMP_DIR"] = str(state.gradio_dir)
    cleanup = (state.config.uploads_cleanup_every_s, state.config.uploads_max_age_s)
    with gr.Blocks(title="SpikEmo", delete_cache=cleanup) as blocks:
        blocks.app_state = state  # for launch()
        gr.Markdown(HEADER)
        # What the model is and its caveats, said once and folded away: the first screen shows the app itself.
        with gr.Accordion("About the model", open=False, elem_id="about-model"):
            gr.Markdown(INTRO)
            gr.Markdown(checkpoint_status(state.config.checkpoint_dir), elem_id="checkpoint-status",
                        latex_delimiters=NO_LATEX)
            gr.Markdown(VOICE_CUE_NOTE)
        with gr.Tabs(overflow_behavior="wrap"):  # every tab's name stays visible on a narrow screen
            analysis = AnalyseTab(state).render()
            InspectTab(state).render()
            LearnTab(state).render(blocks, analysis)
    blocks.queue(default_concurrency_limit=4, max_size=state.config.max_queue_size)
    return blocks


class UploadGuard:
    """ASGI middleware: refuses an upload (POST to Gradio's /upload) with 507 and a message while the app's
    folders are over their disk budget or the disk is nearly full (AppState.upload_refusal)."""

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/upload"):
            refusal = self.state.upload_refusal()
            if refusal is not None:
                logger.warning("upload refused: %s", refusal)
                await PlainTextResponse(refusal, status_code=507)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (how a Space, or systemd, stops the app) ends it as Ctrl-C does: Gradio closes the server and the
    exit handlers remove the app's temporary folder."""
    raise KeyboardInterrupt


def configure_logging() -> None:
    """The app's log on stderr: a line per request (demo.tabs.analyse) and warnings, without the libraries'
    chatter (a line per HTTP request, per Whisper call)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "faster_whisper"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def launch(blocks: gr.Blocks, host: str | None = None, port: int | None = None, warm_up: bool = True,
           **kwargs) -> None:
    """Serve the app: load the models in the background (the page is up at once), limit uploads, and clean up on
    SIGTERM as on Ctrl-C."""
    state: AppState = blocks.app_state
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop_on_sigterm)
    os.environ["GRADIO_TEMP_DIR"] = str(state.gradio_dir)
    if warm_up:
        threading.Thread(target=state.warm_up, name="spikemo-warm-up", daemon=True).start()
    blocks.launch(
        server_name=host, server_port=port, max_file_size=f"{state.config.max_upload_mb}mb",
        allowed_paths=[str(state.config.examples_dir)], css=LAYOUT_CSS,
        app_kwargs={"middleware": [Middleware(UploadGuard, state=state)]}, **kwargs,
    )
