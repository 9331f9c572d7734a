"""The text encoder: utterances with their dialogue context -> one vector each.

encoder.py serves (load, encode, save); finetune.py trains it (fully or with LoRA adapters) on labelled
conversations and cross-fits it; packaged.py finds the offline encoders by name (minilm, mpnet).

May import: the core modules and spikemo.data.
"""
