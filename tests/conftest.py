"""Shared fixtures: one generated two-speaker conversation per test session, and its recognised speech.

Gradio's analytics are switched off before any test imports Gradio (it would wait on DNS without internet).
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from spikemo.bench.synthetic import SyntheticConfig, SyntheticConversation, make_conversation
from spikemo.video.media import load_audio
from spikemo.video.speech import Transcription, transcribe

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> SyntheticConversation:
    """~20 s, 6 turns, speakers A and B (A speaks twice in a row once), faces on, speech audio."""
    folder: Path = tmp_path_factory.mktemp("conversation")
    return make_conversation(folder / "conversation.mp4", SyntheticConfig(num_turns=6, seed=0))


@pytest.fixture(scope="session")
def conversation_audio(conversation: SyntheticConversation) -> np.ndarray:
    """[n_samples] float32, 16 kHz mono."""
    return load_audio(conversation.path)


@pytest.fixture(scope="session")
def recognised(conversation_audio: np.ndarray) -> Transcription:
    """Whisper base (the packaged default) on the conversation."""
    return transcribe(conversation_audio)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests: on a shared 2-core machine, 2 threads ran the fine-tune test 7x slower
    (oversubscribed)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
