"""Benchmarks that print their figures (medians of several runs): model.py (forward latency per T and
training throughput), pipeline.py (a generated video end to end), text.py (the text encoders' cost per
utterance), turns.py (turn-taking on generated quick exchanges); synthetic.py generates the licence-clean
conversations (espeak-ng voices, a public-domain face) they run on, which the tests share.

May import: any layer of spikemo except the command line.
"""
