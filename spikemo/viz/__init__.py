"""Figures (plots.py, matplotlib, no GUI backend) and the teaching simulations behind the app's Learn tab
(lif_teaching.py: one LIF neuron, and the real model's DSWA weights as T grows).

May import: the core modules and spikemo.data, spikemo.model, spikemo.training.
"""
