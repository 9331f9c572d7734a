"""SpikEmo: emotion recognition in conversations with spiking temporal dynamics (arXiv 2411.13917)."""
