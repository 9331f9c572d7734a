"""The data shape that flows through SpikEmo, and the readers that produce it.

A `Conversation` of ordered `Utterance`s (conversation.py) with emotion labels (labels.py) is what every
reader returns: MELD CSVs (meld.py), MultiEMO pickles (multiemo.py), user transcripts (transcript.py) and
feature stores (feature_store.py); ravdess.py reads RAVDESS's emotional speech clips for the voice model;
batching.py pads conversations into model tensors, and timestamps.py reads the clock times of subtitles and
MELD CSVs.

May import: the core modules (spikemo.errors, runtime, paths, integrity, serialization).
"""
