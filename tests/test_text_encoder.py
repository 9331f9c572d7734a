import json
import math

import huggingface_hub.constants
import numpy as np
import pytest
import torch

from spikemo.data.conversation import Conversation, Utterance
from spikemo.data.labels import MELD_LABELS
from spikemo.errors import CheckpointError, InputError, SpikEmoError
from spikemo.text.encoder import TextEncoder, TextEncoderConfig, build_text_input
from spikemo.text.finetune import TextFinetuneConfig, encode_cross_fitted, finetune_text_encoder
from spikemo.text.packaged import default_text_encoder_path

DIALOGUE = Conversation("7", [
    Utterance("Ross", "Hi.", emotion="neutral"),
    Utterance("Rachel", "Hey! You got the tickets?", emotion="joy"),
    Utterance("Ross", "I lost them.", emotion="sadness"),
    Utterance("Monica", "You did what?", emotion="anger"),
])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def encoder(one_torch_thread) -> TextEncoder:
    return TextEncoder.from_pretrained(default_text_encoder_path(), TextEncoderConfig(max_length=64, context_turns=2))


def test_build_text_input_context_order_and_speakers():
    config = TextEncoderConfig(context_turns=2)
    assert build_text_input(DIALOGUE, 0, config) == ("", "Ross: Hi.", "")
    assert build_text_input(DIALOGUE, 3, config) == ("Rachel: Hey! You got the tickets? Ross: I lost them.",
                                                     "Monica: You did what?", "")
    no_speakers = TextEncoderConfig(context_turns=5, include_speaker=False)
    assert build_text_input(DIALOGUE, 2, no_speakers) == ("Hi. Hey! You got the tickets?", "I lost them.", "")
    assert build_text_input(DIALOGUE, 3, TextEncoderConfig(context_turns=0)) == ("", "Monica: You did what?", "")
    ahead = TextEncoderConfig(context_turns=1, future_turns=2)
    assert build_text_input(DIALOGUE, 0, ahead) == ("", "Ross: Hi.",
                                                    "Rachel: Hey! You got the tickets? Ross: I lost them.")
    assert build_text_input(DIALOGUE, 2, ahead) == ("Rachel: Hey! You got the tickets?", "Ross: I lost them.",
                                                    "Monica: You did what?")
    with pytest.raises(InputError):
        TextEncoderConfig(pooling="max")
    with pytest.raises(InputError):
        TextEncoderConfig(future_turns=-1)


def test_following_turns_inform_the_target_but_are_not_pooled(encoder):
    ahead = TextEncoder(encoder.model, encoder.tokenizer, TextEncoderConfig(max_length=64, context_turns=2,
                                                                            future_turns=1))
    items = ahead.tokenize([DIALOGUE])
    tokens = ahead.tokenizer.convert_ids_to_tokens(items[2].input_ids)
    assert [t for t, m in zip(tokens, items[2].target_mask) if m] == ["ross", ":", "i", "lost", "them", "."]
    assert tokens[-7:] == ["monica", ":", "you", "did", "what", "?", "[SEP]"]  # the next turn, after the target
    assert tokens[:5] == ["[CLS]", "ross", ":", "hi", "."]  # the previous turns stay in front
    # the last turn has nothing after it: the same input as without future turns
    assert items[3].input_ids == encoder.tokenize([DIALOGUE])[3].input_ids
    # features: the target's tokens now also attend to the next turn, so its vector changes
    with_next = ahead.encode(items)
    without = encoder.encode(encoder.tokenize([DIALOGUE]))
    assert not np.allclose(with_next[2], without[2], atol=1e-3)
    np.testing.assert_allclose(with_next[3], without[3], atol=1e-5)


def test_following_turns_take_at_most_half_the_budget(encoder):
    ahead = TextEncoder(encoder.model, encoder.tokenizer, TextEncoderConfig(max_length=64, context_turns=2,
                                                                            future_turns=2))
    words = " ".join(f"w{i}" for i in range(200))
    conversation = Conversation("z", [Utterance("Ann", words), Utterance("Bob", "the end"), Utterance("Cy", words)])
    item = ahead.tokenize([conversation])[1]
    tokens = ahead.tokenizer.convert_ids_to_tokens(item.input_ids)
    first_sep = tokens.index("[SEP]")
    budget = 64 - 3  # [CLS] and two [SEP]
    assert len(tokens) == 64 and len(tokens) - first_sep - 2 == budget // 2  # the second segment's share
    assert [t for t, m in zip(tokens, item.target_mask) if m] == ["bob", ":", "the", "end"]
    assert tokens[first_sep + 5 : first_sep + 8] == ["cy", ":", "w"]  # the following turn, cut at its end
    assert "".join(tokens[1:first_sep]).replace("##", "").endswith("w198w199")  # the past keeps the rest


def test_context_is_cut_from_the_left_and_target_kept(encoder):
    words = " ".join(f"w{i}" for i in range(200))
    conversation = Conversation("x", [Utterance("Ann", words), Utterance("Bob", "the end")])
    (first, second) = encoder.tokenize([conversation])
    tokens = encoder.tokenizer.convert_ids_to_tokens(second.input_ids)
    assert len(second.input_ids) == encoder.config.max_length
    target = [t for t, m in zip(tokens, second.target_mask) if m]
    assert target == ["bob", ":", "the", "end"]
    context = tokens[1 : tokens.index("[SEP]")]
    assert "".join(context).replace("##", "").endswith("w198w199")  # most recent words survive
    assert "ann" not in context  # the oldest part (the speaker prefix) went first
    # a target longer than the budget is cut at its end instead of failing
    tokens = encoder.tokenizer.convert_ids_to_tokens(first.input_ids)
    assert len(first.input_ids) == encoder.config.max_length
    assert tokens[:5] == ["[CLS]", "[SEP]", "ann", ":", "w"] and sum(first.target_mask) == len(tokens) - 3
    # ... also when it follows a context, which then keeps a single token
    short_then_long = Conversation("y", [Utterance("Bob", "the end"), Utterance("Ann", words)])
    (_, long_after_short) = encoder.tokenize([short_then_long])
    tokens = encoder.tokenizer.convert_ids_to_tokens(long_after_short.input_ids)
    assert len(tokens) == encoder.config.max_length and tokens[:3] == ["[CLS]", "end", "[SEP]"]


def test_empty_utterance_still_gets_a_feature(encoder):
    conversation = Conversation("e", [Utterance("", ""), Utterance("Ann", "")])
    encoder.encode_conversations([conversation])
    assert all(np.abs(u.features["text"]).sum() > 0 for u in conversation.utterances)


def test_encode_shapes_determinism_and_context_use(encoder):
    conversations = [DIALOGUE, Conversation("8", [Utterance("Joey", "You did what?")])]
    encoder.encode_conversations(conversations)
    features = np.stack([u.features["text"] for c in conversations for u in c.utterances])
    assert encoder.dim == 384
    assert features.shape == (5, 384) and features.dtype == np.float32 and np.isfinite(features).all()
    again = encoder.encode(encoder.tokenize(conversations))
    np.testing.assert_array_equal(features, again)
    one_by_one = encoder.encode(encoder.tokenize(conversations), batch_size=1)
    np.testing.assert_allclose(features, one_by_one, atol=1e-5)
    # the same words with another speaker and no context give another vector
    assert not np.allclose(features[3], features[4], atol=1e-3)


def test_save_and_load_round_trip(encoder, tmp_path):
    encoder.encode_conversations([DIALOGUE])
    before = np.stack([u.features["text"] for u in DIALOGUE.utterances])
    encoder.save_pretrained(tmp_path / "enc")
    assert (tmp_path / "enc" / "model.safetensors").is_file()
    saved = json.loads((tmp_path / "enc" / "text_encoder_config.json").read_text())
    assert saved["context_turns"] == 2 and saved["max_length"] == 64
    loaded = TextEncoder.from_pretrained(str(tmp_path / "enc"))
    assert loaded.config.context_turns == 2 and loaded.config.name_or_path == str(tmp_path / "enc")
    loaded.encode_conversations([DIALOGUE])
    np.testing.assert_array_equal(before, np.stack([u.features["text"] for u in DIALOGUE.utterances]))


def _meld_like(n_conversations: int, seed: int) -> list[Conversation]:
    """Small conversations whose emotion is readable from the words, so a few steps can learn something."""
    rng = np.random.default_rng(seed)
    cue = {"joy": "great wonderful", "anger": "stupid furious", "neutral": "okay the table", "sadness": "sad cry"}
    conversations = []
    for c in range(n_conversations):
        emotions = rng.choice(list(cue), size=4)
        conversations.append(Conversation(str(c), [
            Utterance(["Ann", "Bob"][i % 2], f"this is {cue[e]}", emotion=str(e)) for i, e in enumerate(emotions)
        ]))
    return conversations


@pytest.mark.slow
@pytest.mark.parametrize("bf16", [False, True])
def test_finetune_quick_mode_runs_the_real_loop(bf16):
    encoder = TextEncoder.from_pretrained(default_text_encoder_path(), TextEncoderConfig(max_length=32))
    before = {n: p.detach().clone() for n, p in encoder.model.named_parameters()}
    config = TextFinetuneConfig(epochs=2, batch_size=8, max_train_utterances=40, learning_rate=2e-4, warmup=0.1,
                                bf16=bf16)
    result = finetune_text_encoder(encoder, _meld_like(15, 0), _meld_like(5, 1), MELD_LABELS, config, progress=False)
    assert result["train_utterances"] == 40
    assert [e["epoch"] for e in result["epochs"]] == [1, 2]
    for epoch in result["epochs"]:
        assert 0.0 < epoch["train_loss"] < 2 * math.log(len(MELD_LABELS))
        assert 0.0 <= epoch["dev_weighted_f1"] <= 1.0 and epoch["seconds"] > 0
    best = max(result["epochs"], key=lambda e: e["dev_weighted_f1"])
    assert result["best_dev_weighted_f1"] == best["dev_weighted_f1"] and result["best_epoch"] == best["epoch"]
    after = dict(encoder.model.named_parameters())
    embeddings = "embeddings.word_embeddings.weight"
    assert torch.equal(before[embeddings], after[embeddings])  # frozen by default
    assert not torch.equal(before["encoder.layer.0.attention.self.query.weight"],
                           after["encoder.layer.0.attention.self.query.weight"])
    assert not encoder.model.training
    assert all(p.dtype == torch.float32 for p in encoder.model.parameters())  # autocast leaves the weights float32


@pytest.mark.slow
def test_a_killed_finetune_resumes_where_its_state_was_saved(monkeypatch, tmp_path):
    train, dev = _meld_like(15, 0), _meld_like(5, 1)
    config = TextFinetuneConfig(epochs=2, batch_size=8, max_train_utterances=40, learning_rate=2e-4)  # 5 steps/epoch

    def fresh() -> TextEncoder:
        return TextEncoder.from_pretrained(default_text_encoder_path(), TextEncoderConfig(max_length=32))

    uninterrupted = fresh()
    expected = finetune_text_encoder(uninterrupted, train, dev, MELD_LABELS, config, progress=False)

    state = tmp_path / "state.pt"
    real_step, calls = torch.optim.AdamW.step, []

    def step_then_die(self, *args, **kwargs):  # the 8th step (epoch 2, its 3rd batch) never happens
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_die)
    with pytest.raises(KeyboardInterrupt):
        finetune_text_encoder(fresh(), train, dev, MELD_LABELS, config, progress=False, state_path=state,
                              save_every_s=0.0)
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    saved = torch.load(state, weights_only=True)["run"]
    assert (saved["epoch"], saved["step"], len(saved["history"])) == (2, 7 - 5, 1)

    resumed = fresh()
    result = finetune_text_encoder(resumed, train, dev, MELD_LABELS, config, progress=False, state_path=state)
    for key in ("best_epoch", "best_dev_weighted_f1", "train_utterances"):
        assert result[key] == expected[key]
    for mine, theirs in zip(result["epochs"], expected["epochs"]):
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
        assert mine["dev_weighted_f1"] == theirs["dev_weighted_f1"]
    reference = dict(uninterrupted.model.named_parameters())
    for name, parameter in resumed.model.named_parameters():
        torch.testing.assert_close(parameter, reference[name], rtol=1e-5, atol=1e-6)

    finished = fresh()  # a finished state only restores the best weights
    again = finetune_text_encoder(finished, train, dev, MELD_LABELS, config, progress=False, state_path=state)
    assert again == result
    torch.testing.assert_close(dict(finished.model.named_parameters()), dict(resumed.model.named_parameters()))

    other = TextFinetuneConfig(epochs=2, batch_size=8, max_train_utterances=40, learning_rate=1e-4)
    with pytest.raises(InputError, match="other settings or data"):
        finetune_text_encoder(fresh(), train, dev, MELD_LABELS, other, progress=False, state_path=state)
    state.write_bytes(b"not a state")
    with pytest.raises(InputError, match="not a readable fine-tuning state"):
        finetune_text_encoder(fresh(), train, dev, MELD_LABELS, config, progress=False, state_path=state)


@pytest.mark.slow
def test_cross_fitted_features_come_from_encoders_that_never_saw_their_dialogue(monkeypatch, tmp_path):
    trained_on, states = [], []

    def record_finetune(encoder, train, dev, labels, config, progress=True, state_path=None):  # the real loop is slow
        trained_on.append({c.conversation_id for c in train})
        states.append(state_path)
        encoder.model.get_input_embeddings().weight.data.add_(float(len(trained_on)))  # a distinct encoder per fold
        return {"best_epoch": 1}

    monkeypatch.setattr("spikemo.text.finetune.finetune_text_encoder", record_finetune)
    train, dev = _meld_like(7, 0), _meld_like(2, 1)
    recipe = TextEncoderConfig(name_or_path=default_text_encoder_path(), context_turns=1, future_turns=1)
    reports = encode_cross_fitted(recipe, train, dev, MELD_LABELS, TextFinetuneConfig(), 3, progress=False,
                                  state_dir=tmp_path)
    assert reports == [{"best_epoch": 1}] * 3
    assert states == [tmp_path / f"fold{k}_state.pt" for k in range(3)]  # each fold resumes on its own
    everything = {c.conversation_id for c in train}
    held_out = [everything - seen for seen in trained_on]
    assert sorted(len(h) for h in held_out) == [2, 2, 3] and set().union(*held_out) == everything
    for fold, dialogues in enumerate(held_out):
        for other in held_out[fold + 1:]:
            assert not dialogues & other
    assert not any("text" in u.features for c in dev for u in c.utterances)
    by_id = {c.conversation_id: c for c in train}
    for fold, dialogues in enumerate(held_out):  # each dialogue's features are its own fold's encoder's
        expected = TextEncoder.from_pretrained(default_text_encoder_path(), recipe)  # the fold encoders' recipe
        expected.model.get_input_embeddings().weight.data.add_(float(fold + 1))
        copies = [Conversation(d, [Utterance(u.speaker, u.text) for u in by_id[d].utterances]) for d in dialogues]
        expected.encode_conversations(copies)
        for copy in copies:
            for mine, theirs in zip(by_id[copy.conversation_id].utterances, copy.utterances):
                np.testing.assert_allclose(mine.features["text"], theirs.features["text"], rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="2 to 7 folds"):
        encode_cross_fitted(recipe, train, dev, MELD_LABELS, TextFinetuneConfig(), 1)


def test_finetune_rejects_unknown_labels():
    encoder = TextEncoder.from_pretrained(default_text_encoder_path(), TextEncoderConfig(max_length=16))
    bad = [Conversation("1", [Utterance("A", "hi", emotion="happy")])]
    with pytest.raises(InputError, match="'happy'"):
        finetune_text_encoder(encoder, bad, bad, MELD_LABELS, TextFinetuneConfig(epochs=1), progress=False)


@pytest.mark.parametrize("name", ["some-org/emotion-roberta", "/nonexistent/text-model"])
def test_unreachable_model_gives_a_clear_error(monkeypatch, name):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read once at import
    with pytest.raises(CheckpointError, match="cannot load text encoder .*not a folder here") as caught:
        TextEncoder.from_pretrained(name)
    assert isinstance(caught.value, SpikEmoError) and "offline names 'minilm' and 'mpnet'" in str(caught.value)


def test_unusable_folder_and_config_give_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no usable transformers model"):
        TextEncoder.from_pretrained(str(tmp_path / "empty"))
    (tmp_path / "empty" / "text_encoder_config.json").write_text('{"context_turns": 2, "colour": "red"}')
    with pytest.raises(CheckpointError, match="not a valid text encoder config"):
        TextEncoder.from_pretrained(str(tmp_path / "empty"))


def test_feature_cache_keys_name_the_encoder_the_transcript_and_how_turns_are_read(tmp_path):
    from spikemo.text.feature_cache import features_key

    encoder_dir, csv = tmp_path / "encoder", tmp_path / "dev.csv"
    encoder_dir.mkdir()
    (encoder_dir / "model.safetensors").write_bytes(b"weights")
    csv.write_text("Utterance\nHi.\n")
    shipped = features_key(encoder_dir, csv)
    assert features_key(encoder_dir, csv, "") == shipped
    assert features_key(encoder_dir, csv, "context_turns=0, future_turns=0") != shipped
    csv.write_text("Utterance\nHello.\n")
    assert features_key(encoder_dir, csv) != shipped
