"""What the handlers read from Gradio's queue (gradio 6.31, pinned in requirements.txt): whether the event a
handler serves is still wanted, and when a session's events entered the queue.

Gradio does not tell a synchronous handler that its request went away: the handler's worker thread runs on to
the end. What Gradio does shows in its queue. A client's cancel (gradio_client `job.cancel()`, POST /cancel)
cancels the event's asyncio task, which takes the event out of the queue's active jobs at once (its concurrency
slot goes to the next event while the thread runs on); a client whose connection closes has its events marked
`alive = False`. `request_watch` reads both, so the work can stop at its next progress report.
"""

from __future__ import annotations

from collections.abc import Callable

from gradio.context import LocalContext


class Cancelled(Exception):
    """The request's client cancelled it (reason "cancelled") or went away ("abandoned"): raised from a progress
    callback to stop the work before `stage`."""

    def __init__(self, reason: str, stage: str) -> None:
        super().__init__(f"{reason} before: {stage}")
        self.reason = reason


def _queue():
    """The running app's queue, from the handler's context (None outside a Gradio event)."""
    return getattr(LocalContext.blocks.get(None), "_queue", None)


def request_watch() -> Callable[[], str | None]:
    """For the event the calling handler serves: a check that says "cancelled" once its client cancelled it,
    "abandoned" once the client went away, and None while it is still wanted. Outside Gradio's queue (a direct
    call, a test) the check stays None."""
    queue = _queue()
    event_id = LocalContext.event_id.get(None)
    if queue is None or event_id is None:
        return lambda: None

    def gone() -> str | None:
        for job in list(queue.active_jobs):
            for event in job or ():
                if event._id == event_id:
                    return None if event.alive else "abandoned"
        return "cancelled"  # no longer among the running events

    return gone


def current_event() -> tuple[str, float] | None:
    """The session and the queue entry time (time.monotonic()) of the event the calling handler serves; None
    outside Gradio's queue."""
    queue = _queue()
    event_id = LocalContext.event_id.get(None)
    if queue is None or event_id is None:
        return None
    for job in list(queue.active_jobs):
        for event in job or ():
            if event._id == event_id:
                return event.session_hash, event.enqueue_time
    return None


def session_events(session_hash: str | None, api_name: str) -> list[float]:
    """When (time.monotonic()) each of the session's (None: every session's) events of the endpoint `api_name`
    that are waiting in the queue or running entered the queue."""
    queue = _queue()
    if queue is None:
        return []
    waiting = [event for line in list(queue.event_queue_per_concurrency_id.values()) for event in list(line.queue)]
    running = [event for job in list(queue.active_jobs) for event in job or ()]
    return [event.enqueue_time for event in waiting + running
            if event.alive and session_hash in (None, event.session_hash) and event.fn.api_name == api_name]


def waiting_events() -> int:
    """Events of any endpoint waiting in the queue (not yet running): what the queue's max_size bounds."""
    queue = _queue()
    if queue is None:
        return 0
    return sum(len(line.queue) for line in list(queue.event_queue_per_concurrency_id.values()))
