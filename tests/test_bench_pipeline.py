"""`python -m spikemo bench pipeline`: warm on a given video, and `--cold` (fresh processes) against a process that
only loads Whisper and transcribes. The figures themselves are machine-dependent and printed, not asserted."""

import pytest

from spikemo.bench.cold import DEFAULT_VIDEO, bench_cold, format_cold_bench, transcribe_only
from spikemo.bench.pipeline import bench_pipeline, format_pipeline_bench
from spikemo.video.analyzer import STAGES


@pytest.mark.slow
def test_the_transcription_floor_recognises_the_bundled_example():
    assert transcribe_only(DEFAULT_VIDEO) > 20  # words: the floor does the speech stage's work, not less


@pytest.mark.slow
def test_cold_start_times_both_fresh_processes_and_their_ratio():
    result = bench_cold(DEFAULT_VIDEO, repeats=1)
    assert len(result["analyze_seconds"]) == len(result["transcribe_seconds"]) == 1
    assert result["ratio"] == result["median_analyze_seconds"] / result["median_transcribe_seconds"]
    assert result["median_analyze_seconds"] > result["median_transcribe_seconds"] > 0
    assert "ratio:" in format_cold_bench(result) and DEFAULT_VIDEO.name in format_cold_bench(result)
    with pytest.raises(ValueError):
        bench_cold(DEFAULT_VIDEO, repeats=0)


@pytest.mark.slow
def test_the_warm_benchmark_runs_on_a_given_video():
    result = bench_pipeline(repeats=1, video_path=DEFAULT_VIDEO)
    assert result["video"] == DEFAULT_VIDEO.name and result["scripted_turns"] is None
    assert set(result["stage_median_seconds"]) == set(STAGES) and result["utterances_found"] > 1
    assert result["speech_ratio"] == result["median_seconds"] / result["stage_median_seconds"]["speech"]
    assert DEFAULT_VIDEO.name in format_pipeline_bench(result)
