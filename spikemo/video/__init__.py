"""The video pipeline: a video file -> utterances -> text, audio and visual features -> SpikEmo.

One module per stage: media.py (probe and decode), speech.py (Whisper), segmentation.py (words -> utterances),
speakers.py (who speaks), audio_features.py (openSMILE), faces.py and expression.py (face detection and
expression), visual_features.py (per-utterance face summary), voice_emotion.py (the voice cue: emotion from
the openSMILE functionals). analysis.py holds the result record and its writers, analyzer.py the `Analyzer`
that runs the stages; clip_features.py extracts the same features from MELD-style clips into a feature store
for training.

May import: the core modules and spikemo.data, spikemo.model, spikemo.text, spikemo.training.
"""
