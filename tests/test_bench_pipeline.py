"""`python -m spikemo bench pipeline`: warm on a given video, and `--cold` (fresh processes) against a process that
only loads Whisper and transcribes; `bench scoring`. The figures themselves are machine-dependent and printed, not
asserted."""

import pytest

from spikemo.bench.cold import DEFAULT_VIDEO, bench_cold, format_cold_bench, transcribe_only
from spikemo.bench.pipeline import bench_pipeline, format_pipeline_bench
from spikemo.bench.scoring import bench_scoring, format_scoring_bench
from spikemo.paths import DEFAULT_DATA_DIR
from spikemo.video.analyzer import STAGES


@pytest.mark.slow
def test_the_transcription_floor_recognises_the_bundled_example():
    assert transcribe_only(DEFAULT_VIDEO) > 20  # words: the floor does the speech stage's work, not less


@pytest.mark.slow
def test_cold_start_times_both_fresh_processes_and_their_ratio():
    result = bench_cold(DEFAULT_VIDEO, repeats=1)
    assert len(result["analyze_seconds"]) == len(result["transcribe_seconds"]) == 1
    assert result["ratio"] == result["median_analyze_seconds"] / result["median_transcribe_seconds"]
    assert result["median_analyze_seconds"] > 0 and result["median_transcribe_seconds"] > 0
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


@pytest.mark.slow
def test_the_scoring_benchmark_computes_then_reads_back_the_features(tmp_path):
    """Scoring as the Inspect tab does: a first scoring computes and keeps the text features, a second reads them
    back, with the same scores (bench_scoring raises otherwise)."""
    source = (DEFAULT_DATA_DIR / "dev_sent_emo.csv").read_text(encoding="utf-8").splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join(source[:25]) + "\n", encoding="utf-8")
    result = bench_scoring(small, repeats=1)
    assert result["turns"] > 10 and len(result["first_seconds"]) == len(result["cached_seconds"]) == 1
    assert "from the cache" in format_scoring_bench(result)
