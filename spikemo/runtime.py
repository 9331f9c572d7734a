"""Where and how torch runs: device choice and thread count."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """The requested device, else the GPU when one is present, else the CPU."""
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with `count` torch intra-op threads, then restore the previous setting.

    Small models (the expression CNN, the voice encoder) gain nothing from a second thread, and on a busy
    2-core machine its spin-waiting made them many times slower.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
