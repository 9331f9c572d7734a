"""The text encoder: utterances with their dialogue context -> one vector each.

encoder.py serves (load, encode, save); finetune.py trains it on labelled conversations and cross-fits it.

May import: the core modules and spikemo.data.
"""
