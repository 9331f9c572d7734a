"""Who speaks when, against human reference turns: `python -m spikemo bench diarization --data DIR`.

DIR holds recordings (audio or video) and their reference in RTTM (`SPEAKER <uri> 1 <start> <duration> <NA> <NA>
<speaker> <NA> <NA>`, uri = the file's stem): one `<stem>.rttm` beside each file, or a `reference.rttm` holding
several; a `reference.uem` (or `<stem>.uem`) limits the scored time, else the whole file is scored. Each file goes
through the pipeline's own stages (speech recognition, segmentation, speakers: spikemo.video.diarization) and its
speaker timeline is scored with pyannote.metrics:

- DER with no collar and overlapped speech scored (the strict convention), and with pyannote.metrics' collar of
  0.25 s (a 0.25 s band centred on each reference boundary is not scored), with its parts: missed speech, false
  alarm and speaker confusion, each as a share of the reference speech;
- JER (Jaccard error rate, which weighs every speaker alike);
- speakers found against the reference's, and the seconds the stages took per minute of audio.

The means are over files (each file counts once, as the issue's targets are stated), beside the pooled DER.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from spikemo.errors import InputError
from spikemo.video.diarization import DiarizationConfig, SpeakerTurn, diarize
from spikemo.video.media import MediaConfig, load_audio
from spikemo.video.speech import SAMPLE_RATE, SpeechConfig, Transcription, transcribe

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi")
COLLAR_S = 0.25


@dataclass
class Recording:
    """One file to score: its path, its reference (pyannote Annotation) and the scored time (pyannote Timeline;
    None: the whole file)."""

    uri: str
    path: Path
    reference: object
    uem: object


def _metrics():
    try:
        from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate
    except ImportError as error:
        raise InputError("bench diarization scores with pyannote.metrics: pip install pyannote.metrics") from error
    return DiarizationErrorRate, JaccardErrorRate


def find_recordings(folder: str | Path) -> list[Recording]:
    """Every audio or video file under `folder` whose stem has a reference (see the module docstring), sorted by
    path. InputError when there is none."""
    from pyannote.database.util import load_rttm, load_uem

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--data {folder}: not a folder")
    references, uems = {}, {}
    for path in sorted(folder.rglob("*.rttm")):
        references.update(load_rttm(path))
    for path in sorted(folder.rglob("*.uem")):
        uems.update(load_uem(path))
    recordings = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES + VIDEO_SUFFIXES or path.stem not in references:
            continue
        recordings.append(Recording(path.stem, path, references[path.stem], uems.get(path.stem)))
    if not recordings:
        raise InputError(f"--data {folder}: no audio or video file there has a reference RTTM (uri = file stem)")
    return recordings


def read_audio(path: Path) -> np.ndarray:
    """16 kHz mono float32 [n_samples] of an audio file (soundfile) or a video's audio track (ffmpeg)."""
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        return load_audio(path, MediaConfig())
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        raise InputError(f"{path.name}: {rate} Hz audio; bench diarization reads 16 kHz audio files (or video)")
    return samples.mean(axis=1)


def annotation(turns: Sequence[SpeakerTurn], uri: str):
    """The pipeline's speaker timeline as a pyannote Annotation."""
    from pyannote.core import Annotation, Segment

    result = Annotation(uri=uri)
    for index, turn in enumerate(turns):
        result[Segment(turn.start, turn.end), index] = turn.speaker
    return result


def score_file(reference, hypothesis, uem) -> dict[str, float]:
    """DER (no collar and collar 0.25 s) with its parts, JER, and the speaker counts, for one file."""
    DiarizationErrorRate, JaccardErrorRate = _metrics()
    strict = DiarizationErrorRate(collar=0.0, skip_overlap=False)(reference, hypothesis, uem=uem, detailed=True)
    forgiving = DiarizationErrorRate(collar=COLLAR_S, skip_overlap=False)(reference, hypothesis, uem=uem)
    jer = JaccardErrorRate(collar=0.0, skip_overlap=False)(reference, hypothesis, uem=uem)
    total = strict["total"] or 1.0
    return {
        "der": 100 * strict["diarization error rate"],
        "der_collar": 100 * forgiving,
        "missed": 100 * strict["missed detection"] / total,
        "false_alarm": 100 * strict["false alarm"] / total,
        "confusion": 100 * strict["confusion"] / total,
        "jer": 100 * jer,
        "speakers_found": len(hypothesis.crop(uem).labels()),
        "speakers_reference": len(reference.crop(uem).labels()),
        "reference_speech_s": strict["total"],
    }


def bench_diarization(
    folder: str | Path,
    speech: SpeechConfig = SpeechConfig(),
    num_speakers: int | None = None,
    config: DiarizationConfig = DiarizationConfig(),
) -> dict:
    """Score every recording of `folder` (see the module docstring). num_speakers: the count the clustering is told
    (None: estimated per file, as the app does without a hint)."""
    from pyannote.core import Segment, Timeline

    rows = []
    for recording in find_recordings(folder):
        audio = read_audio(recording.path)
        began = time.perf_counter()
        try:
            transcription = transcribe(audio, speech)
        except InputError:  # no speech heard, or no words recognised: nothing is attributed
            transcription = Transcription([], [], audio.size / SAMPLE_RATE)
        speech_s = time.perf_counter() - began
        turns = diarize(audio, transcription, num_speakers, config).timeline
        seconds = time.perf_counter() - began
        minutes = audio.size / SAMPLE_RATE / 60
        uem = recording.uem or Timeline([Segment(0.0, audio.size / SAMPLE_RATE)])
        scores = score_file(recording.reference, annotation(turns, recording.uri), uem)
        rows.append({"file": recording.uri, **scores, "seconds_per_minute": seconds / minutes,
                     "speaker_seconds_per_minute": (seconds - speech_s) / minutes, "audio_s": minutes * 60})
    return {"data": str(folder), "speech_model": speech.model, "num_speakers": num_speakers,
            "files": rows, "mean": mean_row(rows)}


def mean_row(rows: Sequence[dict]) -> dict[str, float]:
    """Per-file means, the pooled DER (errors over all reference speech) and how many files got the count right."""
    keys = ("der", "der_collar", "missed", "false_alarm", "confusion", "jer", "seconds_per_minute",
            "speaker_seconds_per_minute")
    mean = {key: float(np.mean([row[key] for row in rows])) for key in keys}
    speech = sum(row["reference_speech_s"] for row in rows)
    mean["pooled_der"] = sum(row["der"] * row["reference_speech_s"] for row in rows) / speech
    mean["count_exact"] = sum(row["speakers_found"] == row["speakers_reference"] for row in rows)
    mean["files"] = len(rows)
    return mean


def format_diarization_bench(result: dict) -> str:
    """The per-file table and the mean line, as printed by the command."""
    header = (f"{'file':<22}{'DER':>7}{'DER c.25':>9}{'missed':>8}{'false al.':>10}{'confus.':>8}{'JER':>7}"
              f"{'speakers':>10}{'s/min':>7}")
    lines = [f"speaker turns on {result['data']} (Whisper {result['speech_model']}, speakers "
             f"{result['num_speakers'] or 'estimated'}); % of reference speech", header]
    for row in result["files"]:
        lines.append(f"{row['file']:<22}{row['der']:>7.1f}{row['der_collar']:>9.1f}{row['missed']:>8.1f}"
                     f"{row['false_alarm']:>10.1f}{row['confusion']:>8.1f}{row['jer']:>7.1f}"
                     f"{row['speakers_found']:>5} / {row['speakers_reference']:<2}{row['seconds_per_minute']:>7.1f}")
    mean = result["mean"]
    lines.append(f"{'mean of ' + str(mean['files']) + ' files':<22}{mean['der']:>7.1f}{mean['der_collar']:>9.1f}"
                 f"{mean['missed']:>8.1f}{mean['false_alarm']:>10.1f}{mean['confusion']:>8.1f}{mean['jer']:>7.1f}"
                 f"{mean['count_exact']:>5} exact{mean['seconds_per_minute']:>7.1f}")
    lines.append(f"pooled DER {mean['pooled_der']:.1f} %; speaker stages after Whisper "
                 f"{mean['speaker_seconds_per_minute']:.1f} s per minute of audio")
    return "\n".join(lines)

