"""DialogueRNN-style conversational context encoder (Majumder et al., 2019), used for audio and visual.

Three GRU cells track a dialogue utterance by utterance:
  global state  g_t = GRU_G(u_t ++ q_{s_t}, g_{t-1})            what the conversation is about
  context       c_t = attention(u_t, [g_1 .. g_{t-1}])           what was said before that matters now
  party state   q_{s_t} = GRU_P(u_t ++ c_t, q_{s_t})             the current speaker's state (listeners keep theirs)
  emotion state e_t = GRU_E(q_{s_t}, e_{t-1})                    the output for utterance t
It runs forwards and, over each dialogue reversed within its own length, backwards; the two are combined.
Padding must come after a dialogue's real utterances (mask is a prefix of Trues), as the batcher makes it.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DialogueRNN(nn.Module):
    """One direction. forward: x [B, L, h], speakers [B, L] long in [0, max_speakers), mask [B, L] -> [B, L, h]."""

    def __init__(self, size: int, max_speakers: int):
        super().__init__()
        self.max_speakers = max_speakers
        self.global_cell = nn.GRUCell(2 * size, size)
        self.party_cell = nn.GRUCell(2 * size, size)
        self.emotion_cell = nn.GRUCell(size, size)
        self.context_query = nn.Linear(size, size, bias=False)

    def forward(self, x: Tensor, speakers: Tensor, mask: Tensor) -> Tensor:
        batch, length, size = x.shape
        speaker_onehot = F.one_hot(speakers, self.max_speakers).to(x.dtype)  # [B, L, S]
        real = mask.to(x.dtype)
        party = x.new_zeros(batch, self.max_speakers, size)
        global_state = x.new_zeros(batch, size)
        emotion = x.new_zeros(batch, size)
        history: list[Tensor] = []
        outputs = []
        for t in range(length):
            utterance, speaker = x[:, t], speaker_onehot[:, t]
            speaker_state = torch.einsum("bs,bsh->bh", speaker, party)
            new_global = self.global_cell(torch.cat([utterance, speaker_state], dim=-1), global_state)
            if history:
                past = torch.stack(history, dim=1)  # [B, t, h]; real for every real utterance t
                scores = torch.einsum("bth,bh->bt", past, self.context_query(utterance))
                context = torch.einsum("bt,bth->bh", scores.softmax(dim=-1), past)
            else:
                context = torch.zeros_like(utterance)
            new_speaker_state = self.party_cell(torch.cat([utterance, context], dim=-1), speaker_state)
            emotion = self.emotion_cell(new_speaker_state, emotion)
            # Only the speaker's party state moves, and only at real utterances.
            step = (speaker * real[:, t, None]).unsqueeze(-1)  # [B, S, 1]
            party = party + step * (new_speaker_state - speaker_state).unsqueeze(1)
            keep = real[:, t, None]
            global_state = keep * new_global + (1 - keep) * global_state
            history.append(new_global)
            outputs.append(emotion)
        return torch.stack(outputs, dim=1)


def reverse_within_lengths(mask: Tensor) -> Tensor:
    """Index [B, L] that reverses each dialogue's real utterances in place and leaves padding where it is.

    The permutation is its own inverse. mask [B, L] bool, a prefix of Trues per row.
    """
    length = mask.shape[1]
    lengths = mask.sum(dim=1, keepdim=True)
    positions = torch.arange(length, device=mask.device).expand_as(mask)
    return torch.where(positions < lengths, lengths - 1 - positions, positions)


class DialogueContextEncoder(nn.Module):
    """Bidirectional DialogueRNN with a residual: x + Linear([forward ; backward]), LayerNorm-ed.

    forward: x [B, L, h], speakers [B, L] long, mask [B, L] bool (prefix) -> [B, L, h].
    """

    def __init__(self, size: int, max_speakers: int, dropout: float):
        super().__init__()
        self.forward_rnn = DialogueRNN(size, max_speakers)
        self.backward_rnn = DialogueRNN(size, max_speakers)
        self.combine = nn.Linear(2 * size, size)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(size)

    def forward(self, x: Tensor, speakers: Tensor, mask: Tensor) -> Tensor:
        forward_states = self.forward_rnn(x, speakers, mask)
        order = reverse_within_lengths(mask)
        reversed_x = x.gather(1, order.unsqueeze(-1).expand_as(x))
        backward_states = self.backward_rnn(reversed_x, speakers.gather(1, order), mask)
        backward_states = backward_states.gather(1, order.unsqueeze(-1).expand_as(backward_states))
        combined = self.combine(torch.cat([forward_states, backward_states], dim=-1))
        return self.norm(x + self.dropout(combined))
