"""The video pipeline: video -> utterances -> text/audio/visual features -> SpikEmo -> an Analysis.

Stages (each timed, each reported to an optional progress callback):
  media         probe the file, read a given transcript (within its limits, spikemo.data.transcript), decode the
                audio to 16 kHz mono (spikemo.video.media): a bad input fails here, before any model runs
  speech        Whisper words with VAD regions (spikemo.video.speech), skipped when a transcript is given
  speakers      who speaks when over all the speech (a sensitive VAD, voices clustered, 50 ms frames), then the
                words, cut at pauses, placed in that timeline and split where their speaker changes
                (spikemo.video.diarization);
                with a transcript only to name cues that name no speaker, whose turns stay exactly as given
  text          the checkpoint's text encoder over the dialogue, with context (spikemo.text.encoder)
  audio         openSMILE ComParE_2016 functionals + readable voice cues (eGeMAPS) per utterance, and the
                voice-emotion model's probabilities from those same features (spikemo.video.voice_emotion)
  visual        faces and expressions on frames sampled inside each utterance, one utterance at a time,
                so a long video never holds its frames in memory
  model         SpikEmo with traces: probabilities, DSWA weights, spike rates and spike rasters

All three modalities are always extracted (the app shows face and voice cues even for a text-only
checkpoint); the model gets only the modalities its checkpoint was trained on. Nothing is written to disk:
audio and frames stream through ffmpeg pipes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from spikemo.data.batching import collate_conversations
from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.transcript import UNKNOWN_SPEAKER, TranscriptLimits, load_transcript
from spikemo.errors import CheckpointError, InputError
from spikemo.model.checkpoint import Checkpoint, load_checkpoint
from spikemo.runtime import pick_device, torch_threads
from spikemo.text.packaged import default_text_encoder_path
from spikemo.training.predict import write_predictions
from spikemo.video.analysis import Analysis, AnalysisWarning, UtteranceCues, WarningKind
from spikemo.video.audio_features import AudioFeatureConfig, AudioFeatureExtractor
from spikemo.video.diarization import (
    DIARIZATION_METHODS,
    DiarizationConfig,
    HeardVoices,
    SpeakerTurn,
    diarize,
    hear_voices,
)
from spikemo.video.media import MediaConfig, load_audio, probe_video
from spikemo.video.segmentation import to_utterances
from spikemo.video.speakers import label_transcript, load_voice_encoder
from spikemo.video.speech import SpeechConfig, load_vad, load_whisper, transcribe
from spikemo.video.visual_features import (
    UtteranceVisual,
    VisualFeatureConfig,
    VisualFeatureExtractor,
    visual_features_for_span,
)
from spikemo.video.voice_emotion import DEFAULT_VOICE_MODEL, VoiceEmotionModel, combine_features

if TYPE_CHECKING:
    from spikemo.text.encoder import UtteranceEncoder

STAGES: tuple[str, ...] = ("media", "speech", "speakers", "text", "audio", "visual", "model")
ProgressCallback = Callable[[float, str], None]
StageFn = Callable[[str, float, str], AbstractContextManager[None]]


@dataclass
class PipelineConfig:
    """Settings of every stage. frames_per_second: frames sampled inside each utterance for the visual
    features (fewer on long utterances: at most visual.max_frames are decoded per utterance).
    feature_threads: torch intra-op threads while the text, voice and face features are computed (each runs its
    own small batches; on a busy machine extra threads spin-wait instead of helping; restored afterwards).
    parallel_stages: the speaker stage hears the voices while Whisper transcribes, and the text, voice and face
    features are computed side by side (threads; the same results as one after the other). voice_model: the
    voice-emotion asset folder behind the voice cue's emotion (None: no voice emotion, prosody cues only).
    transcript: the limits on a user's transcript (size, cues per second of video). diarization: the segmentation
    and speaker settings (also those that name a transcript's unnamed cues). text_runtime: "onnx" serves the text
    encoder with ONNX Runtime on a CPU (about twice as fast as torch there, the same features to ~1e-5; exported
    once into the cache), "torch" with torch; on a GPU it is always torch."""

    media: MediaConfig = field(default_factory=MediaConfig)
    transcript: TranscriptLimits = field(default_factory=TranscriptLimits)
    speech: SpeechConfig = field(default_factory=SpeechConfig)
    diarization: DiarizationConfig = field(default_factory=DiarizationConfig)
    audio: AudioFeatureConfig = field(default_factory=AudioFeatureConfig)
    visual: VisualFeatureConfig = field(default_factory=VisualFeatureConfig)
    frames_per_second: float = 2.0
    feature_threads: int = 1
    voice_model: str | Path | None = DEFAULT_VOICE_MODEL
    parallel_stages: bool = True
    text_runtime: str = "onnx"


def audio_span(audio: np.ndarray, start: float, end: float, sample_rate: int) -> np.ndarray:
    """The samples of [start, end) seconds of mono audio [n_samples] (at least one: a word Whisper timed with
    zero length still has a place); InputError when the span starts after the audio ends."""
    first = max(0, int(round(start * sample_rate)))
    last = min(audio.size, max(first + 1, int(round(end * sample_rate))))
    if last <= first:
        raise InputError(
            f"the utterance at {start:.2f}-{end:.2f} s lies outside the audio track "
            f"(which lasts {audio.size / sample_rate:.2f} s)"
        )
    return audio[first:last]


class StageClock:
    """Seconds per pipeline stage (every name in STAGES, 0 until run; the text, audio and visual stages overlap
    when they run side by side), and a progress report as each starts."""

    def __init__(self, progress: ProgressCallback | None = None) -> None:
        self.progress = progress
        self.timings = {name: 0.0 for name in STAGES}
        self.started = time.perf_counter()
        self.reached = 0.0

    def report(self, fraction: float, message: str) -> None:
        """Pass a report (fraction 0..1 of the analysis, what is happening) to the progress callback, if any. The
        fraction never goes back: stages that run side by side start in any order."""
        self.reached = max(self.reached, fraction)
        if self.progress is not None:
            self.progress(self.reached, message)

    @contextmanager
    def stage(self, name: str, fraction: float, message: str) -> Iterator[None]:
        self.report(fraction, message)
        begin = time.perf_counter()
        yield
        self.timings[name] += time.perf_counter() - begin

    def finish(self) -> dict[str, float]:
        """The timings with "total" (seconds since the clock started); reports 1.0."""
        if self.progress is not None:
            self.progress(1.0, "done")
        return {**self.timings, "total": time.perf_counter() - self.started}


class Analyzer:
    """Loads the checkpoint, its text encoder and the extractors once; analyses many videos.

    The models load side by side in three threads (Whisper and the speaker encoder; the checkpoint and the text
    encoder; the voice and face extractors), each importing its packages as it goes; the constructor raises the
    first loading error.

    Owns a MediaPipe face detector: call close() (or use `with Analyzer(...) as analyzer:`) when done.
    """

    def __init__(
        self,
        checkpoint_dir: str | Path | None = None,
        config: PipelineConfig | None = None,
        device: str | None = None,
    ) -> None:
        self.device = pick_device(device)
        self.config = config or PipelineConfig()
        if self.config.speech.device is None:  # Whisper follows the models' device (on CUDA where it can run)
            self.config = replace(self.config, speech=replace(self.config.speech, device=self.device.type))
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="spikemo-load") as loading:
            speech = loading.submit(self._load_speech)
            models = loading.submit(self._load_models, checkpoint_dir)
            cues = loading.submit(self._load_cue_extractors)
        try:
            speech.result()
            self.checkpoint, self.text_encoder = models.result()
            self.audio_extractor, self.voice_model, self.visual_extractor = cues.result()
            self._check_inputs()
        except BaseException:
            # The face detector of a failed load is closed here: left to the garbage collector, MediaPipe's close
            # can block forever on a detector made in another thread.
            if cues.exception() is None:
                cues.result()[2].close()
            raise

    def _load_speech(self) -> None:
        """Whisper, Silero VAD and the speaker encoder (each cached per process)."""
        load_whisper(self.config.speech)
        load_vad()
        load_voice_encoder()

    def _load_models(self, checkpoint_dir: str | Path | None) -> tuple[Checkpoint, UtteranceEncoder]:
        from spikemo.text.onnx_runtime import load_text_encoder  # imported on this thread while Whisper loads

        checkpoint = load_checkpoint(checkpoint_dir, device=self.device)
        encoder_dir = checkpoint.text_encoder_dir or default_text_encoder_path()
        return checkpoint, load_text_encoder(encoder_dir, self.device, self.config.text_runtime,
                                             self.config.feature_threads)

    def _load_cue_extractors(self) -> tuple[AudioFeatureExtractor, VoiceEmotionModel | None, VisualFeatureExtractor]:
        """The voice features, the voice-emotion model (None when the config has none) and the face features."""
        voice_model = (VoiceEmotionModel(self.config.voice_model, self.device)
                       if self.config.voice_model is not None else None)
        return AudioFeatureExtractor(self.config.audio), voice_model, VisualFeatureExtractor(self.config.visual)

    def _check_inputs(self) -> None:
        """CheckpointError when the checkpoint expects features of other sizes than the extractors give."""
        feature_dims = {"text": self.text_encoder.dim, "audio": self.audio_extractor.dim,
                        "visual": self.visual_extractor.dim}
        model_config = self.checkpoint.config
        for modality in model_config.modalities:
            if model_config.input_dims[modality] != feature_dims[modality]:
                raise CheckpointError(
                    f"the checkpoint expects {model_config.input_dims[modality]}-d {modality} features, "
                    f"but this pipeline's {modality} extractor gives {feature_dims[modality]}-d "
                    f"(text encoder: {self.text_encoder.config.name_or_path})"
                )

    def close(self) -> None:
        self.visual_extractor.close()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def analyze(
        self,
        video_path: str | Path,
        transcript_path: str | Path | None = None,
        num_speakers: int | None = None,
        speech_model: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> Analysis:
        """Analyse one video; raises spikemo.errors.InputError on bad input.

        transcript_path: an .srt/.vtt/MELD .csv transcript used as given instead of speech recognition
            (cues without a speaker get one by voice). num_speakers: hint for voice clustering.
        speech_model: overrides config.speech.model ("tiny.en", "base", a model name or folder).
        progress(fraction 0..1, stage description) is called as each stage starts, and with 1.0 at the end.
        """
        if num_speakers is not None and num_speakers < 1:
            raise InputError(f"the number of speakers must be at least 1, got {num_speakers}")
        clock = StageClock(progress)
        stage = clock.stage
        warnings: list[AnalysisWarning] = []

        video_path = Path(video_path)
        media = self.config.media
        with stage("media", 0.0, "reading the video and its audio track"):
            info = probe_video(video_path, media)
            transcript = (None if transcript_path is None
                          else load_transcript(transcript_path, info.duration, self.config.transcript))
            audio = load_audio(video_path, media)

        timeline: list[SpeakerTurn] = []
        if transcript is not None:
            utterances = self._transcript_utterances(transcript, audio, num_speakers, stage, warnings)
        else:
            utterances, timeline = self._recognised_utterances(audio, num_speakers, speech_model, clock)

        conversation = Conversation(video_path.stem, utterances)
        voices, voice_emotions, visuals = self._features(conversation, audio, video_path, stage)
        warnings += self._face_warnings(visuals)

        trained = tuple(self.checkpoint.config.modalities)
        used = tuple(m for m in trained if all(m in u.features for u in utterances))
        unused = [m for m in ("text", "audio", "visual") if m not in trained]
        if unused:
            warnings.append(AnalysisWarning(
                WarningKind.CUES_ONLY,
                f"the checkpoint was trained on {' + '.join(trained)} only: {' and '.join(unused)} features were "
                "extracted and shown as cues but not used by the model"))
        with stage("model", 0.9, "SpikEmo"):
            spikes = self._predict(conversation, used)

        cues = [
            UtteranceCues(voice=voice, **voice_emotion, **visual.face_cue())
            for visual, voice, voice_emotion in zip(visuals, voices, voice_emotions)
        ]
        timings = clock.finish()
        return Analysis(
            video_name=video_path.name,
            duration=info.duration,
            conversation=conversation,
            cues=cues,
            spikes=spikes,
            labels=tuple(self.checkpoint.config.labels),
            modalities_trained=trained,
            modalities_used=used,
            warnings=warnings,
            timings=timings,
            speaker_timeline=timeline,
            conversation_time=self.checkpoint.config.use_dswa and self.checkpoint.config.dswa_variant == "conversation",
        )

    def _features(self, conversation: Conversation, audio: np.ndarray, video_path: Path, stage: StageFn
                  ) -> tuple[list[dict], list[dict], list[UtteranceVisual]]:
        """The text, voice and face features of every utterance (with the voice cues, the voice's emotion and the
        face cues). The three read different inputs and hold the GIL little (tokenizer and torch kernels,
        openSMILE, ffmpeg and MediaPipe), so with config.parallel_stages they run side by side; either way each runs
        on one torch thread, so the features are the same bit for bit."""
        utterances = conversation.utterances

        def text() -> None:
            with stage("text", 0.45, f"text features of {len(utterances)} utterances"):
                self.text_encoder.encode_conversations([conversation])

        with torch_threads(self.config.feature_threads):
            if not self.config.parallel_stages:
                text()
                return *self._voice_cues(audio, utterances, stage), self._face_cues(video_path, utterances, stage)
            with ThreadPoolExecutor(max_workers=3) as pool:
                jobs = [pool.submit(text), pool.submit(self._voice_cues, audio, utterances, stage),
                        pool.submit(self._face_cues, video_path, utterances, stage)]
                _, (voices, voice_emotions), visuals = (job.result() for job in jobs)
        return voices, voice_emotions, visuals

    def _voice_cues(self, audio: np.ndarray, utterances: list[Utterance], stage: StageFn
                    ) -> tuple[list[dict], list[dict]]:
        """Each utterance's openSMILE features (its "audio" features), readable voice cues, and the voice model's
        emotion: (voice cues, voice emotions), one per utterance."""
        media = self.config.media
        voices, voice_emotions = [], []
        with stage("audio", 0.55, "voice features (openSMILE) and the voice's emotion"):
            for utterance in utterances:
                samples = audio_span(audio, utterance.start, utterance.end, media.sample_rate)
                compare = self.audio_extractor.extract(samples, media.sample_rate)
                utterance.features["audio"] = compare
                egemaps, voice = self.audio_extractor.egemaps_and_cues(samples, media.sample_rate)
                voices.append(voice)
                if self.voice_model is None:
                    voice_emotions.append({"voice_emotion": None, "voice_probabilities": {}})
                else:
                    label, probabilities = self.voice_model.predict(
                        combine_features(compare, egemaps, self.voice_model.feature_set))
                    voice_emotions.append({"voice_emotion": label, "voice_probabilities": probabilities})
        return voices, voice_emotions

    def _face_cues(self, video_path: Path, utterances: list[Utterance], stage: StageFn) -> list[UtteranceVisual]:
        """Each utterance's face features (its "visual" features) from frames sampled inside it."""
        visuals = []
        with stage("visual", 0.7, "faces and expressions"):
            for utterance in utterances:
                visual = visual_features_for_span(
                    self.visual_extractor, video_path, utterance.start, utterance.end,
                    self.config.frames_per_second, self.config.media,
                )
                utterance.features["visual"] = visual.vector
                visuals.append(visual)
        return visuals

    def _recognised_utterances(self, audio: np.ndarray, num_speakers: int | None, speech_model: str | None,
                               clock: StageClock) -> tuple[list[Utterance], list[SpeakerTurn]]:
        """The turns with words and the speaker timeline, from speech recognition and the speaker stage. With
        config.parallel_stages, the voices are heard (hear_voices: needs no words) while Whisper transcribes;
        only placing the words waits for both."""
        speech = self.config.speech if speech_model is None else replace(self.config.speech, model=speech_model)
        diarization = self.config.diarization

        def heard(done: float, total: float) -> None:  # the speech stage spans 0.1 .. 0.3 of the progress
            clock.report(0.1 + 0.2 * done / max(total, 1e-9),
                         f"speech recognition (Whisper {speech.model}): {done:.0f} of {total:.0f} s of audio")

        def voices() -> HeardVoices | None:
            with clock.stage("speakers", 0.1, "who speaks when: voices over all the speech"):
                return hear_voices(audio, num_speakers, diarization)

        beside_whisper = self.config.parallel_stages and diarization.method == DIARIZATION_METHODS[0]
        with ThreadPoolExecutor(max_workers=1) as pool:
            listening = pool.submit(voices) if beside_whisper else None
            with clock.stage("speech", 0.1, f"speech recognition (Whisper {speech.model})"):
                transcription = transcribe(audio, speech, heard)
            voices_heard = listening.result() if listening is not None else None
        with clock.stage("speakers", 0.35, "who speaks when: each word's speaker"):
            turns = diarize(audio, transcription, num_speakers, diarization, voices_heard)
        return to_utterances(turns.segments), turns.timeline

    def _transcript_utterances(self, utterances: list[Utterance], audio: np.ndarray, num_speakers: int | None,
                               stage: StageFn, warnings: list[AnalysisWarning]) -> list[Utterance]:
        warnings.append(AnalysisWarning(WarningKind.TRANSCRIPT_USED, "transcript supplied: no speech recognition"))
        unnamed = [u for u in utterances if u.speaker == UNKNOWN_SPEAKER]
        if unnamed:
            with stage("speakers", 0.3, "telling the speakers apart by voice"):
                for utterance in unnamed:  # fail on a cue outside the audio before any clustering
                    audio_span(audio, utterance.start, utterance.end, self.config.media.sample_rate)
                label_transcript(audio, utterances, num_speakers, self.config.diarization.speakers)
            warnings.append(AnalysisWarning(WarningKind.SPEAKERS_BY_VOICE, f"{len(unnamed)} transcript cue(s) name "
                                            "no speaker: speakers attributed by voice"))
        return utterances

    @staticmethod
    def _face_warnings(visuals: list[UtteranceVisual]) -> list[AnalysisWarning]:
        without = sum(not visual.face_found for visual in visuals)
        if without == len(visuals):
            return [AnalysisWarning(WarningKind.NO_FACE, "no face found in any frame: visual features are zeros")]
        if without:
            return [AnalysisWarning(WarningKind.SOME_FACES_MISSING, f"{without} of {len(visuals)} utterances show "
                                    "no face: their visual features are zeros")]
        return []

    @torch.inference_mode()
    def _predict(self, conversation: Conversation, modalities: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Fill each utterance's Prediction; returns the spike rasters, layer -> uint8 [L, T, h]."""
        model = self.checkpoint.model
        labels = tuple(model.config.labels)
        batch = collate_conversations([conversation], modalities, labels).to(self.device)
        output = model(batch.features, batch.speakers, batch.mask, return_traces=True)
        write_predictions(conversation, output, 0, labels)
        return {
            name: s[:, 0].permute(1, 0, 2).contiguous().cpu().numpy()  # uint8 [T, L, h] -> [L, T, h]
            for name, s in output.spikes.items()
        }
