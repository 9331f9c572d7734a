from collections import Counter
from pathlib import Path

import pytest

from spikemo.data.meld import clean_text, read_meld_csv
from spikemo.data.timestamps import parse_timestamp
from spikemo.errors import InputError, SpikEmoError
from spikemo.paths import DEFAULT_DATA_DIR

HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"


def _write(tmp_path: Path, lines: list[str], name: str = "data.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    return path


@pytest.mark.parametrize(
    "split, dialogues, rows, gapped, counts",
    [
        ("train", 1038, 9989, 72, {"neutral": 4710, "joy": 1743, "surprise": 1205, "anger": 1109,
                                   "sadness": 683, "disgust": 271, "fear": 268}),
        ("dev", 114, 1109, 2, {"neutral": 470, "joy": 163, "surprise": 150, "anger": 153,
                               "sadness": 111, "disgust": 22, "fear": 40}),
    ],
)
def test_real_meld_split(split, dialogues, rows, gapped, counts):
    conversations = read_meld_csv(DEFAULT_DATA_DIR / f"{split}_sent_emo.csv")
    utterances = [u for c in conversations for u in c.utterances]
    assert len(conversations) == dialogues
    assert len(utterances) == rows
    assert Counter(u.emotion for u in utterances) == counts
    ids = [int(c.conversation_id) for c in conversations]
    assert ids == sorted(ids)
    for conversation in conversations:
        utterance_ids = [u.utterance_id for u in conversation.utterances]
        assert utterance_ids == sorted(utterance_ids)
    assert sum(1 for c in conversations if [u.utterance_id for u in c.utterances] != list(range(len(c)))) == gapped
    assert not any("\u2019" in u.text or "\u2018" in u.text or "\u00e2\u20ac" in u.text for u in utterances)
    assert all(u.start is not None and u.end is not None and u.end >= u.start for u in utterances)
    assert min(map(len, conversations)) >= 1 and max(map(len, conversations)) <= 24


def test_real_train_details():
    conversations = read_meld_csv(DEFAULT_DATA_DIR / "train_sent_emo.csv")
    ids = {c.conversation_id for c in conversations}
    assert "60" not in ids and "59" in ids and "61" in ids
    first = conversations[0].utterances[0]
    assert first.speaker == "Chandler"
    assert first.text == "also I was the point person on my company's transition from the KL-5 to GR-6 system."
    assert first.start == pytest.approx(16 * 60 + 16.059) and first.end == pytest.approx(16 * 60 + 21.731)
    assert len({u.speaker for c in conversations for u in c.utterances}) == 260


def test_crafted_csv_order_bom_crlf_and_text_repair(tmp_path):
    path = _write(tmp_path, [
        HEADER,
        '3,Second of d7,Ross,Joy,positive,7,5,1,1,"0:00:03,5","0:00:04,000"',
        '1,"Hey, don\u2019t \u201cgo\u201d",Monica,NEUTRAL,neutral,7,2,1,1,"00:00:01,250","00:00:02,000"',
        "2,It\u00e2\u20ac\u2122s  fine\u00e2\u20ac\u00a6,Rachel,surprise,neutral,3,0,1,1,,",
        "4,None,Joey,anger,negative,12,0,1,1,,",
    ], bom=True)
    conversations = read_meld_csv(path)
    assert [c.conversation_id for c in conversations] == ["3", "7", "12"]
    d3, d7, d12 = conversations
    assert d3.utterances[0].text == "It's fine\u2026"
    assert d3.utterances[0].start is None
    assert [u.utterance_id for u in d7.utterances] == [2, 5]
    assert d7.utterances[0].text == 'Hey, don\'t "go"'
    assert [u.emotion for u in d7.utterances] == ["neutral", "joy"]
    assert d7.utterances[0].start == pytest.approx(1.25) and d7.utterances[1].start == pytest.approx(3.5)
    assert d12.utterances[0].text == "None"  # an utterance that says "None" is text, not a missing value


def test_unlabelled_csv_has_no_emotions(tmp_path):
    path = _write(tmp_path, ["Utterance,Speaker,Dialogue_ID,Utterance_ID", "Hi,Ann,0,0", "Hello,Bob,0,1"])
    (conversation,) = read_meld_csv(path)
    assert [u.emotion for u in conversation.utterances] == [None, None]
    assert [u.speaker for u in conversation.utterances] == ["Ann", "Bob"]


def test_unknown_label_names_the_row(tmp_path):
    path = _write(tmp_path, [HEADER, '1,Hi,Ann,joy,positive,0,0,1,1,,', '2,Hi,Bob,happy,positive,0,1,1,1,,'])
    with pytest.raises(InputError, match=r"data row 2.*'happy'"):
        read_meld_csv(path)


def test_missing_columns_are_listed(tmp_path):
    path = _write(tmp_path, ["Utterance,Emotion,Dialogue_ID", "Hi,joy,0"])
    with pytest.raises(InputError, match="Speaker, Utterance_ID"):
        read_meld_csv(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00\xff\xd8\xff\xe0\x8f" * 40, "UTF-8"),
        (b"", "could not be read as a CSV"),
        (b'Utterance,Speaker,Dialogue_ID,Utterance_ID\n"unclosed,Ann,0,0\n', "could not be read as a CSV"),
        (b"Utterance,Speaker,Dialogue_ID,Utterance_ID\nHi,Ann,0,0,extra\n", "line 2 has 5 cells for 4 columns"),
    ],
)
def test_not_a_csv(tmp_path, content, message):
    path = tmp_path / "clip.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_meld_csv(path)


def test_bad_ids_times_duplicates_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_meld_csv(tmp_path / "absent.csv")
    bad_id = _write(tmp_path, ["Utterance,Speaker,Dialogue_ID,Utterance_ID", "Hi,Ann,zero,0"], "a.csv")
    with pytest.raises(InputError, match="Dialogue_ID must be an integer"):
        read_meld_csv(bad_id)
    bad_time = _write(tmp_path, [HEADER, '1,Hi,Ann,joy,positive,0,0,1,1,"soon","00:00:01,000"'], "b.csv")
    with pytest.raises(InputError, match="data row 1"):
        read_meld_csv(bad_time)
    duplicate = _write(tmp_path, ["Utterance,Speaker,Dialogue_ID,Utterance_ID", "Hi,Ann,0,0", "Yo,Bob,0,0"], "c.csv")
    with pytest.raises(SpikEmoError, match="utterance 0 twice"):
        read_meld_csv(duplicate)


def test_parse_timestamp_and_clean_text():
    assert parse_timestamp("00:16:16,059") == pytest.approx(976.059)
    assert parse_timestamp("0:21:08.742") == pytest.approx(1268.742)
    assert parse_timestamp("1:00:00") == 3600
    with pytest.raises(ValueError):
        parse_timestamp("16,059")
    assert clean_text("  I\u0092m \u0093fine\u0094\u00c2\u00a0ok ") == 'I\'m "fine" ok'
