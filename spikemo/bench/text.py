"""Speed of the text encoders: the cost per utterance of turning a dialogue's turns into features.

Encodes the first dialogues of a MELD-format CSV (with their context, as serving does) several times and
reports the median; loading time is reported apart, since the app pays it once at start-up.
"""

import statistics
import time
from pathlib import Path

from spikemo.data.meld import read_meld_csv
from spikemo.text.encoder import TextEncoder


def bench_text_encoder(name_or_path: str, csv_path: str | Path, utterances: int = 200, repeats: int = 3) -> dict:
    """{"encoder", "load_seconds", "utterances", "ms_per_utterance" (median of `repeats` encodings)}."""
    conversations, count = [], 0
    for conversation in read_meld_csv(csv_path):
        if count >= utterances:
            break
        conversations.append(conversation)
        count += len(conversation)
    started = time.perf_counter()
    encoder = TextEncoder.from_pretrained(name_or_path)
    load_seconds = time.perf_counter() - started
    encoder.encode_conversations(conversations)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        encoder.encode_conversations(conversations)
        times.append(time.perf_counter() - started)
    return {
        "encoder": name_or_path,
        "load_seconds": round(load_seconds, 2),
        "utterances": count,
        "ms_per_utterance": round(1000 * statistics.median(times) / count, 2),
    }


def format_text_bench(result: dict) -> str:
    return (
        f"text encoder {result['encoder']}: {result['ms_per_utterance']:.2f} ms per utterance "
        f"(median of runs over {result['utterances']} utterances in context), loaded in {result['load_seconds']:.1f} s"
    )
