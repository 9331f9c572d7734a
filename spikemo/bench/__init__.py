"""Benchmarks that print their figures (medians of several runs): model.py (forward latency per T, the DSWA
variants side by side, training throughput), pipeline.py (a generated or given video end to end, warm),
cold.py (fresh processes against transcription alone), scoring.py (a CSV scored as the Inspect tab does),
text.py (the text encoders' cost per utterance), turns.py (turn-taking on generated quick exchanges),
diarization.py (speaker turns against reference RTTM); synthetic.py generates the licence-clean
conversations (espeak-ng voices, a public-domain face) they run on, which the tests share.

May import: any layer of spikemo except the command line.
"""
