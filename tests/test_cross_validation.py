"""Leave-actors-out folds and the one definition of spread (spikemo.training.cross_validation, .summary)."""

import statistics

import numpy as np
import pytest

from spikemo.errors import InputError
from spikemo.training.cross_validation import actor_folds, cross_validate, fold_summary
from spikemo.training.summary import mean_and_std, mean_std


def test_spread_is_the_sample_standard_deviation():
    assert mean_and_std([1.0, 2.0, 3.0, 4.0]) == (2.5, statistics.stdev([1.0, 2.0, 3.0, 4.0]))
    assert mean_std([1.0, 2.0, 3.0, 4.0]) == "2.50 ± 1.29"  # the population one would be 1.12
    assert mean_std([57.7]) == "57.70" and mean_std([]) == "–"
    assert mean_and_std([3.0]) == (3.0, 0.0)
    with pytest.raises(ValueError):
        mean_and_std([])


def test_actor_folds_mix_actors_and_refuse_one():
    assert actor_folds([3, 1, 2, 4, 5, 6, 1], 3) == [[1, 4], [2, 5], [3, 6]]
    assert actor_folds([1, 2], 5) == [[1], [2]]
    with pytest.raises(InputError, match="at least 2 actors"):
        actor_folds([7, 7], 2)


def test_cross_validation_never_scores_a_clip_with_its_actor_in_training():
    actors = np.array([1, 1, 2, 2, 3, 3])
    labels = np.array([0, 1, 0, 1, 0, 1])
    seen = []

    def predict_fold(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        assert not set(actors[train]) & set(actors[test])
        seen.append(sorted(set(actors[test])))
        return labels[test] if 1 in actors[test] else 1 - labels[test]  # right on actor 1 only

    result = cross_validate(predict_fold, labels, actors, actor_folds(actors, 3), ("neutral", "joy"))
    assert seen == [[1], [2], [3]]
    assert [fold["accuracy"] for fold in result["folds"]] == [100.0, 0.0, 0.0]
    assert result["accuracy_mean"] == 33.33 and result["accuracy_std"] == 57.74  # sample std of 100, 0, 0
    assert result["pooled"]["accuracy"] == pytest.approx(100 / 3, abs=0.01)
    assert fold_summary(result["folds"]) == {k: result[k] for k in fold_summary(result["folds"])}
