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
    """The request's client cancelled it or went away: raised from a progress callback to stop the work."""


def _queue():
    """The running app's queue, from the handler's context (None outside a Gradio event)."""
    return getattr(LocalContext.blocks.get(None), "_queue", None)


def request_watch() -> Callable[[], bool]:
    """For the event the calling handler serves: a check that turns True once its client cancelled it or went
    away. Outside Gradio's queue (a direct call, a test) the check stays False."""
    queue = _queue()
    event_id = LocalContext.event_id.get(None)
    if queue is None or event_id is None:
        return lambda: False

    def gone() -> bool:
        for job in list(queue.active_jobs):
            for event in job or ():
                if event._id == event_id:
                    return not event.alive
        return True  # cancelled: no longer among the running events

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


def session_events(session_hash: str, api_name: str) -> list[float]:
    """When (time.monotonic()) each of the session's events of the endpoint `api_name` that are waiting in the
    queue or running entered the queue."""
    queue = _queue()
    if queue is None:
        return []
    waiting = [event for line in list(queue.event_queue_per_concurrency_id.values()) for event in list(line.queue)]
    running = [event for job in list(queue.active_jobs) for event in job or ()]
    return [event.enqueue_time for event in waiting + running
            if event.alive and event.session_hash == session_hash and event.fn.api_name == api_name]
