"""The SpikEmo network (arXiv 2411.13917), as tensors in and tensors out.

configuration.py (the config dataclasses and presets), neuron.py (the LIF neuron), dswa.py (the spiking
encoder and the DSWA re-weighting), dialogue_rnn.py (the context encoder), fusion.py (MultiAttn),
modeling.py (SpikEmoModel with from_pretrained/save_pretrained), losses.py (CE + dice + Soft-HGR),
checkpoint.py (a model with its metadata, model card and text encoder folder).

May import: the core modules and spikemo.data.labels.
"""
