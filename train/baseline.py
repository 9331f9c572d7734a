"""The reference point SpikEmo is measured against: a frozen text encoder, each utterance alone (no context,
no speaker), mean-pooled, with a logistic-regression classifier trained on MELD train and scored on dev.

    python -m train.baseline [--text-encoder ID_OR_FOLDER] [--results train/results/baseline.json]
        # prints one JSON object, and keeps it in --results when given
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from spikemo.data.conversation import Conversation
from spikemo.data.labels import MELD_LABELS
from spikemo.data.meld import read_meld_csv
from spikemo.errors import run_command
from spikemo.paths import DEFAULT_DATA_DIR
from spikemo.text.encoder import TextEncoder, TextEncoderConfig
from spikemo.text.packaged import default_text_encoder_path, packaged_name
from spikemo.training.metrics import classification_metrics


def utterance_features(encoder: TextEncoder, conversations: list[Conversation]) -> tuple[np.ndarray, list[str]]:
    """[N, dim] features of every labelled utterance, and their gold labels."""
    encoder.encode_conversations(conversations, progress=True)
    utterances = [u for c in conversations for u in c.utterances if u.emotion is not None]
    return np.stack([u.features["text"] for u in utterances]), [u.emotion for u in utterances]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m train.baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--text-encoder", default=default_text_encoder_path())
    parser.add_argument("--train-csv", default=DEFAULT_DATA_DIR / "train_sent_emo.csv")
    parser.add_argument("--dev-csv", default=DEFAULT_DATA_DIR / "dev_sent_emo.csv")
    parser.add_argument("--results", type=Path, help="also write the JSON here (the README's figure is checked "
                        "against train/results/baseline.json)")
    args = parser.parse_args(argv)
    config = TextEncoderConfig(name_or_path=args.text_encoder, context_turns=0, include_speaker=False, pooling="mean")
    encoder = TextEncoder.from_pretrained(args.text_encoder, config)
    train_x, train_y = utterance_features(encoder, read_meld_csv(args.train_csv))
    dev_x, dev_y = utterance_features(encoder, read_meld_csv(args.dev_csv))
    classifier = LogisticRegression(max_iter=2000).fit(train_x, train_y)
    metrics = classification_metrics(dev_y, list(classifier.predict(dev_x)), MELD_LABELS)
    # The offline encoder by its short name: no machine's package folder in the record.
    encoder_config = {**config.to_dict(), "name_or_path": packaged_name(args.text_encoder)}
    result = {"encoder": packaged_name(args.text_encoder), "encoder_config": encoder_config, "dev": metrics}
    shown = {**result, "dev": {k: v for k, v in metrics.items() if k != "confusion"}}
    print(json.dumps(shown))
    if args.results:
        command = "python -m train.baseline " + " ".join(argv if argv is not None else sys.argv[1:])
        args.results.write_text(json.dumps({"command": command, **shown}, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    sys.exit(run_command(main))
