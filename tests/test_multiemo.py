import os
import pickle

import numpy as np
import pytest

from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.labels import IEMOCAP_LABELS, MELD_LABELS
from spikemo.data.multiemo import read_multiemo_pickle
from spikemo.errors import InputError
from tests.multiemo_files import write_multiemo_pickle

DIMS = {"text": 6, "audio": 5, "visual": 4}


def _conversation(cid: str, speakers: list[str], emotions: list[str], rng: np.random.Generator) -> Conversation:
    utterances = [
        Utterance(speaker=s, text=f"line {i} of {cid}", emotion=e, utterance_id=10 + i,
                  features={m: rng.normal(size=d).astype(np.float32) for m, d in DIMS.items()})
        for i, (s, e) in enumerate(zip(speakers, emotions))
    ]
    return Conversation(cid, utterances)


def test_meld_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    splits = {
        "train": [_conversation("5", ["Ross", "Rachel", "Ross"], ["joy", "anger", "neutral"], rng),
                  _conversation("2", ["Monica"], ["fear"], rng)],
        "test": [_conversation("9", ["Joey", "Chandler", "Phoebe", "Joey"], list(MELD_LABELS[:4]), rng)],
    }
    path = tmp_path / "meld_features.pkl"
    write_multiemo_pickle(splits, path, "meld")
    read = read_multiemo_pickle(path, "meld")
    assert sorted(read) == ["test", "train"]
    for split, conversations in splits.items():
        assert [c.conversation_id for c in read[split]] == [c.conversation_id for c in conversations]
        for original, loaded in zip(conversations, read[split]):
            assert [u.emotion for u in loaded.utterances] == [u.emotion for u in original.utterances]
            assert [u.text for u in loaded.utterances] == [u.text for u in original.utterances]
            assert [u.utterance_id for u in loaded.utterances] == [u.utterance_id for u in original.utterances]
            assert [u.speaker for u in loaded.utterances] == [f"speaker{i}" for i in original.speaker_indices()]
            for a, b in zip(original.utterances, loaded.utterances):
                for modality in DIMS:
                    assert b.features[modality].dtype == np.float32
                    np.testing.assert_array_equal(a.features[modality], b.features[modality])
    with path.open("rb") as file:  # the layout MultiEMO's loaders unpack
        content = pickle.load(file)
    assert len(content) == 10
    assert np.asarray(content[1]["5"]).shape == (3, 9)
    assert content[2]["5"] == [MELD_LABELS.index(e) for e in ("joy", "anger", "neutral")]
    assert content[3]["5"].shape == (3, DIMS["text"])


def test_iemocap_python2_style_file_with_set_splits(tmp_path):
    """IEMOCAP files: 9 items, 'M'/'F' speakers, string utterance ids, splits stored as sets, protocol 2."""
    rng = np.random.default_rng(1)
    tables = [{} for _ in range(7)]
    for vid, n in (("Ses01F_impro01", 3), ("Ses05M_script02", 2)):
        tables[0][vid] = [f"{vid}_F{i:03d}" for i in range(n)]
        tables[1][vid] = ["M", "F", "M"][:n]
        tables[2][vid] = [5, 0, 3][:n]
        tables[3][vid] = rng.normal(size=(n, 8)).tolist()  # lists of floats, as some files store them
        tables[4][vid] = rng.normal(size=(n, 3))
        tables[5][vid] = rng.normal(size=(n, 2))
        tables[6][vid] = [f"sentence {i}" for i in range(n)]
    path = tmp_path / "iemocap.pkl"
    path.write_bytes(pickle.dumps((*tables, {"Ses01F_impro01"}, {"Ses05M_script02"}), protocol=2))
    read = read_multiemo_pickle(path, "iemocap")
    (train,), (test,) = read["train"], read["test"]
    assert [u.speaker for u in train.utterances] == ["M", "F", "M"]
    assert [u.emotion for u in train.utterances] == [IEMOCAP_LABELS[5], IEMOCAP_LABELS[0], IEMOCAP_LABELS[3]]
    assert [u.utterance_id for u in train.utterances] == [0, 1, 2]
    assert train.utterances[1].features["text"].shape == (8,)
    assert test.utterances[1].text == "sentence 1"
    np.testing.assert_allclose(test.utterances[0].features["audio"], tables[4]["Ses05M_script02"][0], rtol=1e-6)


class _SystemCall:
    def __reduce__(self):
        return os.system, ("echo should-never-run",)


class _Eval:
    def __reduce__(self):
        return eval, ("1 + 1",)


@pytest.mark.parametrize("payload", [_SystemCall(), _Eval()])
def test_malicious_pickle_is_refused(tmp_path, payload):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(({"0": payload},) * 7 + ([0], [])))
    with pytest.raises(InputError, match="refusing to load"):
        read_multiemo_pickle(path)


def test_bad_files_and_inputs(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_multiemo_pickle(tmp_path / "absent.pkl")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"this is not a pickle")
    with pytest.raises(InputError):
        read_multiemo_pickle(junk)
    wrong_shape = tmp_path / "dict.pkl"
    wrong_shape.write_bytes(pickle.dumps({"train": []}))
    with pytest.raises(InputError, match="tuple of 9 or 10"):
        read_multiemo_pickle(wrong_shape)
    with pytest.raises(InputError, match="unknown dataset"):
        read_multiemo_pickle(wrong_shape, dataset="mosei")
    rng = np.random.default_rng(2)
    unlabelled = _conversation("1", ["A"], ["joy"], rng)
    unlabelled.utterances[0].emotion = None
    with pytest.raises(InputError, match="emotion None"):
        write_multiemo_pickle({"train": [unlabelled]}, tmp_path / "x.pkl")
    with pytest.raises(InputError, match="'M' or 'F'"):
        write_multiemo_pickle({"train": [_conversation("1", ["Ann"], ["anger"], rng)]}, tmp_path / "y.pkl", "iemocap")
    with pytest.raises(InputError, match="only splits"):
        write_multiemo_pickle({"dev": []}, tmp_path / "z.pkl")


def test_label_out_of_range_is_an_input_error(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "meld.pkl"
    write_multiemo_pickle({"train": [_conversation("1", ["A", "B"], ["joy", "fear"], rng)], "test": []}, path)
    with path.open("rb") as file:
        content = list(pickle.load(file))
    content[2]["1"] = [4, 7]
    path.write_bytes(pickle.dumps(tuple(content)))
    with pytest.raises(InputError, match="label 7 out of range"):
        read_multiemo_pickle(path)


@pytest.mark.slow
def test_experiments_run_on_a_multiemo_file(tmp_path):
    from train import experiments

    rng = np.random.default_rng(3)
    def dialogue(cid: str) -> Conversation:
        return _conversation(cid, ["Ross", "Rachel", "Ross"], list(rng.choice(MELD_LABELS, size=3)), rng)

    path = tmp_path / "meld_features.pkl"
    write_multiemo_pickle({"train": [dialogue(str(i)) for i in range(12)],
                           "test": [dialogue(str(100 + i)) for i in range(3)]}, path, "meld")
    records = experiments.main(["--quick", "--multiemo", str(path), "--results-dir", str(tmp_path / "results"),
                                "--seeds", "0", "--experiments", "table5"])
    assert sorted(r["name"] for r in records) == sorted(["text", "audio", "visual", "text+audio", "text+visual",
                                                         "audio+visual", "text+audio+visual"])
    assert all(r["test"]["n_utterances"] == 9 and r["dev"]["n_utterances"] == 3 for r in records)  # 1 dev dialogue
    table5 = (tmp_path / "results" / "table5.md").read_text()
    assert "needs MELD's clips" not in table5 and "test weighted F1" in table5


def test_a_file_of_the_other_dataset_is_refused_not_scored_with_the_wrong_labels(tmp_path):
    rng = np.random.default_rng(3)
    conversation = _conversation("1", ["M", "F"], ["anger", "sadness"], rng)
    iemocap_file = tmp_path / "iemocap.pkl"
    write_multiemo_pickle({"train": [conversation], "test": []}, iemocap_file, "iemocap")
    with pytest.raises(InputError, match="layout of MultiEMO's IEMOCAP files.*give the dataset as iemocap"):
        read_multiemo_pickle(iemocap_file, "meld")
    assert read_multiemo_pickle(iemocap_file, "iemocap")["train"][0].utterances[1].emotion == "sadness"
    meld_file = tmp_path / "meld.pkl"
    write_multiemo_pickle({"train": [_conversation("1", ["A"], ["joy"], rng)], "test": []}, meld_file, "meld")
    with pytest.raises(InputError, match="give the dataset as meld"):
        read_multiemo_pickle(meld_file, "iemocap")
