"""The text encoder: utterances with their dialogue context -> one vector each.

encoder.py reads turns and runs the encoder with torch (load, encode, save); onnx_runtime.py exports it once and
serves it with ONNX Runtime on a CPU (the app's default there); finetune.py trains it (fully or with LoRA
adapters) on labelled conversations and cross-fits it; packaged.py finds the offline encoders by name (minilm,
mpnet).

May import: the core modules and spikemo.data.
"""
