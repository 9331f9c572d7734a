"""The Learn tab's words and readings: the explanations beside each picture, the views its handlers return, and the
sentences that read a figure (what the spikes decide, a sweep over T, a turn's attention, neurons across a
dialogue). Pure functions of the library's traces, tested alone; demo.tabs.learn wires them into the page."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from demo.markup import md
from spikemo.viz.conversation_teaching import ConversationNeuronTrace
from spikemo.viz.lif_teaching import TimeStepSweep
from spikemo.viz.ssa_teaching import TurnAttentionTrace

LIF_TEXT = """### One leaky integrate-and-fire (LIF) neuron
Every spiking layer in SpikEmo is made of LIF neurons. At each time step the membrane potential **H** moves a
fraction 1/tau of the way towards the input current (it *leaks*), and when it reaches the **threshold** the
neuron emits a spike (1) and resets to 0. The output is a train of 0s and 1s over **T** time steps.
A spike is a step function, whose derivative is zero almost everywhere, so training uses a **surrogate
gradient**: the backward pass pretends the step was a smooth arctan curve (right). Move the sliders."""

SSA_TEXT = """### From one neuron to spiking self-attention (DSWA)
SpikEmo feeds each turn's features into a small **Spikformer** for T time steps. Queries, keys and values are
spike trains (0/1), so `Q Kᵀ` counts how many neurons two turns fire *together*: a coincidence count, with no
softmax. Turns whose spikes coincide with many others collect more input and fire more.
The encoder's output, averaged over the T steps, gives every turn a score E per feature channel; a softmax over
the dialogue's turns makes them **DSWA weights** (shown here averaged over the channels): the model's
spike-based attention over time. Each feature is then re-weighted as `F ← softmax(E)·F + F`.
With few time steps the rates are coarse (a neuron can only fire 0, 1 or 2 times in T=2); the paper reports
that more steps help. The picture below tests that on this model: one row per T = 2 ... 64, one column per turn
of the conversation you pick (a bundled example or your own analysis from the Analyse tab); 1 (white) is an
average turn, red turns get more weight, blue turns less. Rows that look alike mean T changes nothing here."""

ATTENTION_TEXT = """### Inside spiking self-attention, one turn at a time
Now open the Spikformer up, on the conversation and modality picked above. Press the button to see the
first turn, then move the sliders to pick another turn or another attention head (each head is a separate
group of neurons that attends in its own way): the pictures show what the real model's neurons do during its
T time steps, layer by layer."""

NEURONS_TEXT = """### Neurons that read the dialogue turn by turn
In a checkpoint whose DSWA runs in **conversation time** (`--dswa-variant conversation`), the spiking neurons
read the dialogue in order: each turn is presented for a few steps, and the membrane potentials carry over to
the next turn, so a neuron can charge over several turns before it fires. The picture follows the neurons that
fire in the most turns: their potential against the threshold (top), their spikes (middle, a dash each), and
each turn's DSWA weight (bottom; 1 is an average turn), along the dialogue, left to right."""

RASTER_TEXT = """**Spike rasters.** Time runs left to right, one row per neuron; a dash means the neuron fired (1) at
that step, a blank means it stayed silent (0). A spiking network passes only these 0s and 1s. Each turn gets
three groups of neurons: the **query** (what this turn looks for in the others), the **key** (what it offers
them) and the **value** (what it passes on). The same features enter at every step, yet a neuron fires
regularly, rarely or never, depending on how strongly it is driven: how *often* it fires is its message."""

COINCIDENCE_TEXT = """**Coincidences, Q·Kᵀ.** To compare two turns, multiply turn *i*'s query spikes with turn *j*'s
key spikes neuron by neuron and add them up. With 0s and 1s a product is 1 only when both fire, so the sum
simply **counts the neurons firing together** at that step. The map shows that count (averaged over the steps)
for every pair of turns in the picked head, one map per layer: a bright cell means two turns' neurons agree
often. There is no softmax: these counts directly scale how much of each turn's values flow into the others.
The strip under each map shows the picked turn's row (boxed) step by step."""

OUTPUT_TEXT = """**Attention output and firing rates.** The values, mixed by the coincidence counts, drive one more
layer of LIF neurons, the attention neurons; their raster shows which of the picked head's channels fire for
this turn. A **firing rate** is the share of (neuron, step) slots holding a spike: 0 is silence, 1 is a
spike at every step. Spiking networks are sparse, so rates of a few percent are normal; the bars compare the
queries, keys, values, attention neurons and the MLP that follows, in each layer, over the whole dialogue."""

WEIGHTS_TEXT = """**How the weights settle as the steps accumulate.** DSWA averages the encoder's output over the
time steps, then turns it into one weight per turn. Each line is a turn's weight had the model stopped after
*t* steps (1 = an average turn). After one or two steps a neuron has fired 0, 1 or 2 times, so the average is
coarse; with every extra step each rate is measured more finely and the lines settle. Lines that are nearly
flat from the first step mean the features themselves, more than the spikes, set the weights: what the
measurements at the top of this tab say for this model."""

YOUR_ANALYSIS = "Your last analysis (Analyse tab)"
MEASURED_HEADING = "### What the spikes decide in this model (measured)"
SPIKES_DECIDE_SHARE = 0.05  # the spiking-attention issue's bar: silencing the spikes changes at least 5 % of decisions


class LIFView(NamedTuple):
    """One simulated LIF neuron: its figure and a paragraph reading it."""

    lif_plot: Figure
    lif_reading: str


class SweepView(NamedTuple):
    """A bundled example's DSWA weights over T, and what changes with T and without DSWA."""

    sweep_plot: Figure
    sweep_text: str


class AttentionView(NamedTuple):
    """Spiking self-attention seen from one turn of a bundled example: the pickers set to what is shown (and to
    the example's turns and the model's heads), a reading, and four figures."""

    attention_turn: dict
    attention_head: dict
    attention_reading: str
    qkv_plot: Figure
    coincidence_plot: Figure
    output_plot: Figure
    weights_plot: Figure


class NeuronsView(NamedTuple):
    """The conversation-time DSWA's neurons across a dialogue: the figure and a reading."""

    neurons_plot: Figure
    neurons_reading: str


def no_conversation_neurons_text(variant: str | None) -> str:
    """Why a checkpoint shows no neurons across the dialogue."""
    if variant is None:
        return "This checkpoint has no DSWA step (or none could be read), so it has no spiking neurons to show here."
    return (f"This checkpoint's DSWA is the `{md(variant)}` variant: it presents each turn's features for T steps and "
            "its neurons start afresh with every turn, so nothing carries from one turn to the next. Spiking "
            "self-attention below shows what its neurons do within a turn.")


def conversation_neurons_reading(trace: ConversationNeuronTrace, name: str) -> str:
    """What the neurons-across-the-dialogue figure shows, in a few sentences."""
    fired = trace.turns_fired()
    reading = (f"{trace.num_turns} turns of {md(name)}, {md(trace.modality)} stream: {len(trace.neurons)} of the "
               f"{trace.population} neurons, {trace.steps_per_turn} steps per turn, a memory of {trace.tau_turns:g} "
               "turns. ")
    if not trace.spiking:
        return reading + "This checkpoint is the spike-free control: its integrators emit a smooth value, no spikes."
    if not fired.any():
        return reading + "None of them fires on this dialogue: the potentials stay under the threshold."
    busiest = int(fired.argmax())
    return reading + (f"Neuron {trace.neurons[busiest]} fires in {int(fired[busiest])} of the {trace.num_turns} turns; "
                      f"{int((fired > 0).sum())} of the neurons shown fire at least once.")


def turn_label(index: int, speaker: str | None) -> str:
    """A turn's label on a figure axis, e.g. "3 Ross" (matplotlib text: a "$" would start a formula)."""
    return f"{index + 1} {(speaker or '?')[:12]}".replace("$", r"\$")


def measured_effect_text(effect: dict | None) -> str:
    """What DSWA and its spikes decide in the checkpoint, from the figures `train.dswa_effect --record` kept in its
    config.json (CheckpointSummary.dswa_effect), and what that means for the pictures below."""
    if not effect:
        return (f"{MEASURED_HEADING}\nThis checkpoint carries no measurement of what its spikes decide. "
                "`python -m train.dswa_effect --checkpoint DIR --record` measures it on MELD dev and keeps it in the "
                "checkpoint, where this page reads it.")
    n, f1 = effect["utterances"], effect["weighted_f1"]

    def share(count: int) -> str:
        return f"**{count} of {n}** decisions ({100 * count / n:.1f} %)"

    silenced = effect["changed_with_spikes_silenced"]
    lines = [
        MEASURED_HEADING,
        f"On {md(effect['csv'])} ({n} turns; DSWA variant `{md(effect['dswa_variant'])}`, T = "
        f"{effect['time_steps']}), measured with `python -m train.dswa_effect` and kept in the checkpoint:",
        f"- skipping DSWA altogether changes {share(effect['changed_without_dswa'])}; weighted F1 "
        f"{f1['with_dswa']:.2f} with it, {f1['without_dswa']:.2f} without;",
        f"- silencing every spike (DSWA runs, its neurons never fire) changes {share(silenced)}, F1 "
        f"{f1['spikes_silenced']:.2f};",
        f"- shuffling the order of each dialogue's turns changes {share(effect['changed_with_order_shuffled'])}, "
        f"F1 {f1['order_shuffled']:.2f};",
        f"- the turn weights correlate {effect['weight_feature_correlation']:.4f} with a plain softmax of the input "
        f"features, and move by {effect['weight_change_T2']:.4f} on average between T = 2 and T = "
        f"{effect['time_steps']}.",
    ]
    if silenced < SPIKES_DECIDE_SHARE * n:
        lines.append("So in this model the spikes decide little: the pictures below show how spiking attention "
                     "works and what its neurons do, while the turn weights mostly follow the features themselves.")
    else:
        lines.append("So in this model the spikes decide a real share of the predictions: the pictures below show "
                     "what decides.")
    return "\n".join(lines)


def without_dswa_sentence(sweep: TimeStepSweep) -> str:
    """What the model predicts with DSWA skipped, against its predictions at the largest T."""
    differ = [(i, label) for i, (label, with_dswa) in enumerate(zip(sweep.without_dswa, sweep.predictions[-1]))
              if label != with_dswa]
    if not differ:
        return ("With the DSWA step skipped, every turn keeps its prediction: here DSWA shifts probabilities, "
                "not decisions.")
    turns = ", ".join(f"turn {i + 1} would be {label}" for i, label in differ)
    return f"With the DSWA step skipped, {turns}: DSWA decides those."


def turn_attention_reading(trace: TurnAttentionTrace, speaker: str, text: str) -> str:
    """What the figures say about the picked turn, in a few sentences (speaker and text are escaped)."""
    turn, head = trace.turn + 1, trace.head + 1
    reading = (f"**Turn {turn} of {trace.num_turns}** ({md(speaker)}: {md(text)}), {md(trace.modality)} stream, "
               f"head {head} of {trace.heads}, T = {trace.time_steps} steps. ")
    for layer in range(trace.layers):
        rates = trace.firing_rates[layer]
        row = trace.coincidence[layer][trace.head, trace.turn]
        partner = int(row.argmax())
        reading += (f"Layer {layer + 1}: over the dialogue, {rates['query']:.0%} of the query slots and "
                    f"{rates['attention']:.0%} of the attention neurons' slots hold a spike; in head {head} this "
                    "turn's query ")
        if row[partner] > 0:
            reading += (f"coincides most with turn {partner + 1}'s key ({row[partner]:.1f} neurons at once on "
                        "average). ")
        else:
            reading += "never fires together with any turn's key, so this head passes it no values. "
    weights = trace.weights_by_step[:, trace.turn] * trace.num_turns
    reading += (f"Its DSWA weight is {weights[0]:.2f}x an average turn after 1 step and {weights[-1]:.2f}x after "
                f"{trace.time_steps}; it stays within 5% of that final value from step "
                f"{settling_step(weights)} on.")
    return reading


def settling_step(series: np.ndarray, tolerance: float = 0.05) -> int:
    """The first step t (1-based) from which every value of `series` stays within `tolerance` (relative) of its
    last value."""
    final = series[-1]
    outside = np.flatnonzero(np.abs(series - final) > tolerance * abs(final))
    return int(outside[-1]) + 2 if outside.size else 1
