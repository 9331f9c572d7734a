"""Emotion label sets, in the order the paper's code uses (so per-class tables line up)."""

MELD_LABELS: tuple[str, ...] = ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
IEMOCAP_LABELS: tuple[str, ...] = ("happiness", "sadness", "neutral", "anger", "excitement", "frustration")

MODALITIES: tuple[str, ...] = ("text", "audio", "visual")
