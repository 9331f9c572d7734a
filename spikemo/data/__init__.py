"""Readers that turn datasets on disk into `Conversation`s."""

from spikemo.data.meld import read_meld_csv
from spikemo.data.multiemo import read_multiemo_pickle, write_multiemo_pickle

__all__ = ["read_meld_csv", "read_multiemo_pickle", "write_multiemo_pickle"]
