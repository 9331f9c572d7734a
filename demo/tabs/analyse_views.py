"""What the Analyse tab shows: the named outputs of its handlers, and the turn table, the turn's details, the
summary and the spike figures they are built from (user text escaped). demo/tabs/analyse.py lays the tab out,
wires it and runs the analyses."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
from matplotlib.figure import Figure

from demo.markup import md, speaker_name, top_probabilities
from spikemo.video.analysis import Analysis, WarningKind, voice_descriptions
from spikemo.video.visual_features import frame_phrase
from spikemo.viz import plots

MISSING_CUE = "-"
MODALITY_NAMES = {"text": "text (the words)", "audio": "audio (the voice)", "visual": "visual (the face)"}
TURN_TABLE_COLUMNS = ["#", "time", "speaker", "text", "emotion", "confidence", "face", "face agrees", "voice",
                      "voice agrees", "prosody"]
# Narrow fixed columns before the text and a share of the table's width for it, so that at phone width (a 390 px
# screen leaves about 358 px) time, speaker, text, emotion and confidence are all on screen, the words wrapping
# inside their cell, while the cue columns after them scroll sideways. One width per TURN_TABLE_COLUMNS.
TURN_TABLE_WIDTHS = ["30px", "56px", "76px", "30%", "76px", "84px", "104px", "90px", "120px", "96px", "150px"]
VOICE_CUE_NOTE = ("The voice cue's emotion comes from a small model trained on RAVDESS, **acted** emotional speech "
                  "(actors reading two neutral sentences in a studio, CC BY-NC-SA 4.0): on real conversations, where "
                  "emotions are milder and rooms and microphones differ, it is a hint, much less reliable than on "
                  "acted clips.")
# How to read each figure, in plain words, under it.
HOW_TO_READ = {
    "timeline": "*How to read it:* each bar is a turn, in its speaker's lane, at its time in the video; its colour "
                "is the predicted emotion, and the fainter it is, the less sure the model. The thin grey line under "
                "a lane is all the speech heard from that speaker, laughs and words too quiet to transcribe included.",
    "cues": "*How to read it:* a row per turn: the model's emotion beside what the face alone and the voice alone "
            "suggest. Hatched cells disagree with the model; white means no cue for that turn.",
    "heatmap": "*How to read it:* how much the spiking attention (DSWA) weighs each turn against the others. 1 is "
               "an average turn; red turns count more, blue ones less. The Learn tab shows how the spikes make it.",
    "probabilities": "*How to read it:* a bar per turn, split into the emotions' probabilities: one long colour is "
                     "a confident prediction, many short ones a hesitant one.",
    "raster": "*How to read it:* each dot is one neuron (of the first 128) firing at one of the simulated time "
              "steps while the model reads the selected turn; a dense column is a step where many fired.",
    "rates": "*How to read it:* the share of neurons firing at each time step, one line per spiking layer.",
}
# What the turn details and the notice say instead, once the note itself stands in "About the model".
VOICE_CUE_POINTER = "The voice cue is a hint from a model of acted speech (see About the model)."


class AnalysisResult(NamedTuple):
    """Every view of a finished analysis, the first turn selected; `record` is the analysis as the CLI's JSON
    writes it (Analysis.to_dict), for API clients. The banner and the record come last, so that API clients that
    read the earlier outputs by position keep working."""

    analysis: Analysis
    summary: str
    turn_table: pd.DataFrame
    timeline: Figure
    probabilities: Figure
    heatmap: Figure
    cue_strips: Figure
    turn: dict
    layer: dict
    downloads: list[str]
    notice: str
    record: dict


class TurnView(NamedTuple):
    """The views of one selected turn."""

    details: str
    turn_probabilities: Figure
    raster: Figure
    rates: Figure
    heatmap: Figure


class RowSelection(NamedTuple):
    """A turn selected in the turn table: the slider moved to it, and its views."""

    turn: int
    details: str
    turn_probabilities: Figure
    raster: Figure
    rates: Figure
    heatmap: Figure


def format_time(seconds: float | None) -> str:
    """m:ss.s, or "" when the time is unknown."""
    if seconds is None:
        return ""
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{rest:04.1f}"


def modality_statement(trained: tuple[str, ...], used: tuple[str, ...] | None = None) -> str:
    """Plain words on which modalities the checkpoint's prediction rests on, and which are only cues."""
    cues = [m for m in ("audio", "visual") if m not in trained]
    text = f"**The loaded checkpoint was trained on {' + '.join(MODALITY_NAMES[m] for m in trained)}.**"
    if used is not None and tuple(used) != tuple(trained):
        missing = [m for m in trained if m not in used]
        text += f" This video lacked {', '.join(missing)}, so the prediction used {' + '.join(used)}."
    if cues:
        named = " and ".join({"audio": "voice", "visual": "face"}[m] for m in cues)
        text += (f" The {named} {'is' if len(cues) == 1 else 'are'} extracted and shown beside the prediction "
                 "as a cue only: the model never saw it, so disagreement there is information, not an error.")
    if "audio" in cues:
        text += " " + VOICE_CUE_POINTER
    return text


def analysis_summary(analysis: Analysis) -> str:
    """The video, its turns and speakers, the time each stage took, and notes (the video's name and the notes
    escaped: they show as text). What the prediction rests on is the banner's (`modality_statement`)."""
    conversation = analysis.conversation
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in analysis.timings.items() if v >= 0.05 and k != "total")
    return "\n\n".join([
        f"**{md(analysis.video_name)}**: {len(conversation)} turns, {len(conversation.speakers())} "
        f"speakers, analysed in {analysis.timings.get('total', 0):.1f} s ({timings}).",
        *(f"Note: {md(w)}" for w in analysis.warnings if w.kind != WarningKind.CUES_ONLY),
    ])


def turn_rows(analysis: Analysis) -> pd.DataFrame:
    """One row per turn: #, time (its start), speaker, text, emotion, confidence, face (cue), face agrees, voice
    (the voice cue's emotion), voice agrees, prosody (louder/higher pitch than the speaker's other turns). On a
    phone the cue columns are hidden (app.LAYOUT_CSS): the turn's details show them."""
    voices = voice_descriptions(analysis)
    rows = []
    for i, (u, cues) in enumerate(zip(analysis.conversation.utterances, analysis.cues)):
        p = u.prediction
        # A missing cue is a dash: its reason is in the turn's details, so every row stays a line or two tall.
        face = f"{cues.face_expression} ({cues.face_expression_prob:.2f})" if cues.face_expression else MISSING_CUE
        agrees = "" if not cues.face_expression else ("yes" if cues.face_expression == p.emotion else "NO")
        if cues.voice_emotion:
            voice = f"{cues.voice_emotion} ({cues.voice_probabilities.get(cues.voice_emotion, 0.0):.2f})"
            voice_agrees = "yes" if cues.voice_emotion == p.emotion else "NO"
        else:
            voice, voice_agrees = MISSING_CUE, ""
        rows.append({
            "#": i + 1, "time": format_time(u.start), "speaker": u.speaker,  # its end is in the turn's details
            "text": u.text, "emotion": p.emotion, "confidence": round(p.probabilities[p.emotion], 2),
            "face": face, "face agrees": agrees, "voice": voice, "voice agrees": voice_agrees,
            "prosody": voices[i],
        })
    return pd.DataFrame(rows, columns=TURN_TABLE_COLUMNS)


def turn_details(analysis: Analysis, index: int) -> str:
    """Markdown for one turn: text, prediction, DSWA weights, and the face and voice cues beside it (the speaker
    and the text escaped: a transcript's markup shows as text)."""
    u = analysis.conversation.utterances[index]
    cues = analysis.cues[index]
    p = u.prediction
    length = len(analysis.conversation.utterances)
    lines = [
        f"### Turn {index + 1} of {length}: {speaker_name(u.speaker)}, {format_time(u.start)}-{format_time(u.end)}",
        f"> {md(u.text)}",
        f"**Model ({' + '.join(analysis.modalities_used)}): {p.emotion}** {top_probabilities(p.probabilities)}",
    ]
    if p.dswa_weights:
        lines.append("DSWA weight (x turns; 1 = an average turn): "
                     + ", ".join(f"{m} {w * length:.2f}" for m, w in p.dswa_weights.items()))
    if cues.face_expression:
        verdict = "agrees with" if cues.face_expression == p.emotion else "**disagrees** with"
        lines.append(f"**Face cue: {cues.face_expression}** ({cues.face_expression_prob:.2f}, a face in "
                     f"{cues.face_presence:.0%} of {frame_phrase(cues.face_frames)}): {verdict} the model.")
    elif cues.face_note:
        lines.append(f"**Face cue:** none: {cues.face_note}.")
    else:
        lines.append("**Face cue:** no face was found in this turn's frames.")
    if cues.voice_emotion:
        verdict = "agrees with" if cues.voice_emotion == p.emotion else "**disagrees** with"
        lines.append(f"**Voice cue: {cues.voice_emotion}** ({top_probabilities(cues.voice_probabilities)}): "
                     f"{verdict} the model ({VOICE_CUE_POINTER.lower()[:-1]}).")
    voice = cues.voice
    if voice:
        lines.append(
            f"**Voice prosody:** loudness {voice.get('loudness', 0):.2f}, "
            f"pitch {voice.get('pitch_mean_hz', 0):.0f} Hz, "
            f"{voice.get('syllable_rate_per_s', 0):.1f} syllables/s, voiced {voice.get('voiced_fraction', 0):.0%}."
        )
    return "\n\n".join(lines)


def spike_figures(analysis: Analysis, index: int, layer: str | None) -> tuple[Figure, Figure]:
    """Spike raster [T x neurons] of one turn in one layer (for a conversation-time DSWA, the whole dialogue's with
    the turn marked), and the spike-rate curves of all layers."""
    rates = analysis.conversation.utterances[index].prediction.spike_rates
    if not analysis.spikes:
        empty = plots.plot_spike_rates({})
        return empty, empty
    layer = layer if layer in analysis.spikes else next(iter(analysis.spikes))
    if analysis.conversation_time:
        raster = plots.plot_dialogue_spike_raster(analysis.spikes[layer], index, title=layer)
    else:
        raster = plots.plot_spike_raster(analysis.spikes[layer][index], title=f"{layer}, turn {index + 1}")
    return raster, plots.plot_spike_rates(rates, highlight=layer)
