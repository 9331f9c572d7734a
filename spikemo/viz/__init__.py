"""Figures (plots.py, matplotlib, no GUI backend) and the teaching material behind the app's Learn tab
(lif_teaching.py: one LIF neuron, and the real model's DSWA weights as T grows; ssa_teaching.py and its figures
in ssa_plots.py: spiking self-attention inside the real model, seen from one turn).

May import: the core modules and spikemo.data, spikemo.model, spikemo.training.
"""
