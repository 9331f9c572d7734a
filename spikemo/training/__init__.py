"""Running and training the model on conversations: predict.py (predictions per utterance), trainer.py
(stage 2 training, selected on dev), evaluate.py (score a checkpoint on a MELD-format CSV), metrics.py
(weighted F1 and friends), summary.py (mean ± sample std over seeds and folds), datasets.py (what a stage-2
experiment trains on), cross_validation.py (leave-actors-out folds), two_corpus.py (one model on MELD text and
RAVDESS speech), model_card.py (a checkpoint's card; save, score dev, write the card), dswa_ablation.py (what the
model decides with its DSWA step skipped, its spikes silenced or its turns shuffled), inspection.py (a scored
file turn by turn: filters, sort orders, slices, pages, confusion cells, dialogue lookup, two checkpoints'
disagreements, CSV limits).

May import: the core modules and spikemo.data, spikemo.model, spikemo.text.
"""
