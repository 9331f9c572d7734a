"""The app under real users: a cancelled or disconnected request stops at the pipeline's next stage and frees the
worker, its request folder goes whatever the outcome, and one session cannot fill the queue. The pipeline is a
stand-in that reports the real stages (no model runs); the Gradio server, its queue and gradio_client are real."""

import logging
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
import pytest
from gradio.context import LocalContext

from demo import AppConfig, build_demo
from demo import state as app_state
from demo.queue_events import request_watch, session_events, waiting_events
from demo.state import AppState, QueueView, Refusal, on_the_way
from demo.tabs import analyse
from spikemo.data.conversation import Conversation, Prediction, Utterance
from spikemo.errors import InputError
from spikemo.paths import EXAMPLES_DIR
from spikemo.video.analysis import Analysis, UtteranceCues
from spikemo.video.analyzer import STAGES

VIDEO = EXAMPLES_DIR / "two_friends.mp4"


def small_analysis() -> Analysis:
    utterances = []
    for i, speaker in enumerate("AB"):
        utterance = Utterance(speaker=speaker, text=f"turn {i}", start=float(i), end=i + 0.9)
        utterance.prediction = Prediction("joy", {"anger": 0.1, "joy": 0.9}, {"text": 0.5}, {"text/layer0": [0.1]})
        utterances.append(utterance)
    cues = [UtteranceCues(None, 0.0, 0.0, {"loudness": 1.0}) for _ in utterances]
    return Analysis("two_friends.mp4", 2.0, Conversation("two_friends", utterances), cues, {}, ("anger", "joy"),
                    ("text",), ("text",), [], {"total": 1.0})


class StandInPipeline:
    """Takes run_analysis's place: reports each of the pipeline's stages as the Analyzer does, spends `seconds`
    in each, and records what it started and how it ended."""

    def __init__(self, seconds: float = 0.0, fail_at: str | None = None) -> None:
        self.seconds = seconds
        self.fail_at = fail_at
        self.started: list[str] = []
        self.outcomes: list[str] = []
        self.ended = threading.Event()

    def __call__(self, setup, video, transcript, speakers, speech_model, progress) -> Analysis:
        self.ended.clear()
        try:
            for i, stage in enumerate(STAGES):
                progress(i / len(STAGES), stage)
                self.started.append(stage)
                if stage == self.fail_at:
                    raise InputError(f"bad input found in the {stage} stage")
                time.sleep(self.seconds)
            progress(1.0, "done")
            self.outcomes.append("completed")
            return small_analysis()
        except Exception as error:
            self.outcomes.append(type(error).__name__)
            raise
        finally:
            self.ended.set()


def tab_with(pipeline: StandInPipeline, tmp_path: Path, monkeypatch) -> analyse.AnalyseTab:
    monkeypatch.setattr(analyse, "run_analysis", pipeline)
    return analyse.AnalyseTab(AppState(AppConfig(checkpoint_dir=tmp_path / "none", data_dir=tmp_path,
                                                 temp_root=tmp_path)))


def no_progress(*args, **kwargs) -> None:
    return None


def test_a_cancelled_request_stops_at_the_next_stage_and_leaves_no_files(tmp_path, monkeypatch, caplog):
    pipeline = StandInPipeline()
    # The client cancels while the speech stage runs: the check says so from then on.
    monkeypatch.setattr(analyse, "request_watch",
                        lambda: lambda: "cancelled" if "speech" in pipeline.started else None)
    tab = tab_with(pipeline, tmp_path, monkeypatch)
    with caplog.at_level(logging.INFO, logger=analyse.__name__), pytest.raises(gr.Error, match="cancelled"):
        tab.analyse(str(VIDEO), None, None, "tiny.en", progress=no_progress)
    assert re.fullmatch(r"session -: analysis cancelled after \d+\.\d s", caplog.records[-1].getMessage())
    assert pipeline.started == ["media", "speech"]  # no stage after the one running when the client left
    assert pipeline.outcomes == ["Cancelled"]
    assert list(tab.state.requests_dir.iterdir()) == [] and list(tab.state.downloads_dir.iterdir()) == []


def test_the_request_folder_goes_after_success_and_after_an_error(tmp_path, monkeypatch):
    tab = tab_with(StandInPipeline(), tmp_path, monkeypatch)
    seen = []
    real_folder = tab.state.request_folder

    @contextmanager
    def watched_folder():  # records the request's folder while it exists
        with real_folder() as folder:
            seen.append(folder)
            yield folder

    monkeypatch.setattr(tab.state, "request_folder", watched_folder)
    result = tab.analyse(str(VIDEO), None, None, "tiny.en", progress=no_progress)
    assert seen and not seen[-1].exists()
    downloads = [Path(path) for path in result.downloads]
    assert [p.name for p in downloads] == ["two_friends-spikemo.json", "two_friends-spikemo.csv"]
    assert all(p.is_file() and p.parent.parent == tab.state.downloads_dir for p in downloads)  # kept to fetch

    monkeypatch.setattr(analyse, "run_analysis", StandInPipeline(fail_at="visual"))
    with pytest.raises(gr.Error, match="bad input found in the visual stage"):
        tab.analyse(str(VIDEO), None, None, "tiny.en", progress=no_progress)
    assert len(seen) == 2 and not seen[-1].exists()
    assert list(tab.state.requests_dir.iterdir()) == []
    assert len(list(tab.state.downloads_dir.iterdir())) == 1  # the failed request published nothing


class FakeEvent:
    def __init__(self, event_id: str, session_hash: str, api_name: str, enqueue_time: float) -> None:
        self._id, self.session_hash, self.enqueue_time, self.alive = event_id, session_hash, enqueue_time, True
        self.fn = type("Fn", (), {"api_name": api_name})()


def test_request_watch_reads_gradios_cancel_and_disconnect_signals():
    """Gradio's two signals, as its queue shows them: a cancel takes the event out of the active jobs, a closed
    connection marks it not alive."""
    mine, other = FakeEvent("e1", "s1", "analyse", 1.0), FakeEvent("e2", "s2", "analyse", 2.0)
    queue = type("Queue", (), {})()
    queue.active_jobs = [[mine], None, [other]]
    queue.event_queue_per_concurrency_id = {}
    blocks = type("Blocks", (), {"_queue": queue})()
    tokens = LocalContext.blocks.set(blocks), LocalContext.event_id.set("e1")
    try:
        gone = request_watch()
        assert gone() is None
        mine.alive = False  # the client's connection closed
        assert gone() == "abandoned"
        mine.alive = True
        queue.active_jobs = [None, None, [other]]  # the client cancelled: Gradio cancelled the event's task
        assert gone() == "cancelled"
        assert session_events("s2", "analyse") == [2.0] and session_events("s2", "score") == []
        assert session_events(None, "analyse") == [2.0] and waiting_events() == 0
    finally:
        LocalContext.blocks.reset(tokens[0])
        LocalContext.event_id.reset(tokens[1])
    assert request_watch()() is None  # outside an event (a direct call): never cancelled


def test_one_session_has_at_most_the_limit_of_analyses(tmp_path, monkeypatch):
    monkeypatch.setattr(app_state, "ADMISSION_GRACE_S", 0.3)
    state = AppState(AppConfig(checkpoint_dir=tmp_path / "none", temp_root=tmp_path, max_analyses_per_session=2))
    # A burst: three submits before any of their events shows in the queue.
    assert state.admit("a", []) is None and state.admit("a", []) is None
    assert state.admit("a", []) is Refusal.SESSION_LIMIT
    assert state.admit("b", []) is None  # another session is not held back
    entered = [time.monotonic(), time.monotonic()]  # the two admitted events enter the queue
    assert state.admit("a", entered) is Refusal.SESSION_LIMIT  # each counted once, with its admission
    time.sleep(0.4)  # past the grace only the queue counts
    assert state.admit("a", entered) is Refusal.SESSION_LIMIT
    assert state.admit("a", entered[:1]) is None  # one of them ended: room for one more
    for _ in range(5):  # one analysis after another: each admission settles as its analysis starts
        assert state.admit("c", []) is None
        state.started("c", time.monotonic())


def test_a_burst_of_sessions_cannot_overfill_the_queue(tmp_path):
    """Many sessions submitting at once all pass Gradio's own size check before any validator answers: the
    admissions on their way count against the queue's limit too."""
    state = AppState(AppConfig(checkpoint_dir=tmp_path / "none", temp_root=tmp_path, max_queue_size=4))
    empty = QueueView(all_events=[], waiting=0)
    outcomes = [state.admit(f"s{i}", [], empty) for i in range(12)]  # 3x the limit, before any event enters
    assert outcomes.count(None) == 4 and outcomes.count(Refusal.QUEUE_FULL) == 8
    # Their events enter the queue: one runs, three wait; the queue counts them, not their admissions again.
    entered = [time.monotonic() for _ in range(4)]
    assert state.admit("late", [], QueueView(all_events=entered, waiting=3)) is None  # 3 waiting + 0 on the way
    assert state.admit("later", [], QueueView(all_events=entered, waiting=4)) is Refusal.QUEUE_FULL


def test_on_the_way_pairs_each_admission_with_a_later_event():
    assert on_the_way([1.0, 2.0], []) == 2
    assert on_the_way([1.0, 2.0], [1.5]) == 1  # the event that entered after the first admission stands for it
    assert on_the_way([1.0, 2.0], [0.5]) == 2  # an older event stands for no admission
    assert on_the_way([1.0, 2.0], [2.5, 3.0]) == 0


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The real app (its queue, validator and handlers) on a free loopback port, with the stand-in pipeline."""
    from gradio_client import Client

    from demo.browser import free_port

    pipeline = StandInPipeline(seconds=0.4)
    monkeypatch.setattr(analyse, "run_analysis", pipeline)
    blocks = build_demo(AppConfig(checkpoint_dir=tmp_path / "none", data_dir=tmp_path, temp_root=tmp_path))
    blocks.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield blocks, pipeline, lambda: Client(blocks.local_url, verbose=False)
    finally:
        blocks.close()


def eventually(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def submit(client):
    from gradio_client import handle_file

    return client.submit(handle_file(str(VIDEO)), None, 0, "tiny.en", api_name="/analyse")


def test_a_cancelled_job_stops_at_the_next_stage_and_frees_the_worker(served):
    blocks, pipeline, new_client = served
    state: AppState = blocks.app_state
    job = submit(new_client())
    deadline = time.monotonic() + 60
    while len(pipeline.started) < 2:  # into the pipeline's second stage
        assert time.monotonic() < deadline
        time.sleep(0.02)
    job.cancel()
    cancelled_during = len(pipeline.started)
    assert pipeline.ended.wait(5)
    assert pipeline.outcomes == ["Cancelled"]
    assert len(pipeline.started) <= cancelled_during + 1 < len(STAGES)  # it stopped at the next stage boundary
    assert eventually(lambda: list(state.requests_dir.iterdir()) == [])  # the handler unwinds just after
    assert list(state.downloads_dir.iterdir()) == []
    summary = new_client().predict(*submit_arguments(), api_name="/analyse")[0]  # the worker is free again
    assert "2 turns" in summary and pipeline.outcomes == ["Cancelled", "completed"]


def submit_arguments() -> tuple:
    from gradio_client import handle_file

    return handle_file(str(VIDEO)), None, 0, "tiny.en"


def test_an_extra_submit_of_one_session_is_refused_with_a_message(served):
    from gradio_client.exceptions import ValidationError

    blocks, pipeline, new_client = served
    pipeline.seconds = 0.1  # each analysis still runs for most of a second: the burst finds them queued
    client = new_client()
    jobs = [submit(client) for _ in range(4)]  # at once, as gradio_client sends them: a burst
    other = submit(new_client())
    outcomes = []
    for job in jobs:
        try:
            outcomes.append("2 turns" in job.result(timeout=120)[0])
        except ValidationError as error:
            assert "You already have 2 analyses waiting or running" in str(error)
            outcomes.append("refused")
    assert sorted(outcomes, key=str) == [True, True, "refused", "refused"]
    assert "2 turns" in other.result(timeout=120)[0]  # another session was admitted meanwhile
    for _ in range(3):  # one after another, the same session is never held back
        assert "2 turns" in client.predict(*submit_arguments(), api_name="/analyse")[0]
    assert pipeline.outcomes == ["completed"] * 6


def test_a_client_that_goes_away_stops_its_analysis(served):
    import subprocess
    import sys

    blocks, pipeline, _ = served
    pipeline.seconds = 1.0  # time for the server to notice the closed connection before the last stage
    client_code = ("import sys, time; from gradio_client import Client, handle_file; "
                   "c = Client(sys.argv[1], verbose=False); "
                   "c.submit(handle_file(sys.argv[2]), None, 0, 'tiny.en', api_name='/analyse'); time.sleep(120)")
    process = subprocess.Popen([sys.executable, "-c", client_code, blocks.local_url, str(VIDEO)])
    try:
        assert eventually(lambda: len(pipeline.started) >= 2, seconds=60)
    finally:
        process.kill()  # the connection closes with the process, as when a browser tab is closed
        process.wait()
    assert pipeline.ended.wait(10)
    assert pipeline.outcomes == ["Cancelled"] and len(pipeline.started) < len(STAGES)
    assert eventually(lambda: list(blocks.app_state.requests_dir.iterdir()) == [])
