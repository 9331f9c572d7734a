"""SpikEmo: emotion recognition in conversations with spiking temporal dynamics (arXiv 2411.13917).

The library, by concern; each layer imports only the layers above it in this list (tests/test_layout.py
checks it), and nothing here imports Gradio:

  errors, runtime, paths, integrity, serialization
             the user-facing error type, torch devices and threads, file locations, checksums, and the
             JSON round trip of config dataclasses
  data/      the conversation shape, emotion labels, batching, and the readers (MELD, MultiEMO,
             transcripts, feature stores)
  model/     the SpikEmo network: configuration, LIF neuron, DSWA, DialogueRNN, fusion, losses, checkpoints
  text/      the text encoder: serving, fine-tuning and cross-fitting
  training/  prediction, training, evaluation, metrics, the DSWA ablation
  video/     the video pipeline: one module per stage, the Analysis record, the orchestrating Analyzer
  viz/       figures, and the LIF neuron simulations that teach how the spikes work
  bench/     benchmarks, and the generated conversations they run on
  __main__   the command line (`python -m spikemo`)
"""
