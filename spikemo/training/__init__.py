"""Running and training the model on conversations: predict.py (predictions per utterance), trainer.py
(stage 2 training, selected on dev), evaluate.py (score a checkpoint on a MELD-format CSV), metrics.py
(weighted F1 and friends), dswa_ablation.py (what the model decides with its DSWA step skipped), inspection.py
(a scored file turn by turn: filters, pages, confusion cells, two checkpoints' disagreements, CSV limits).

May import: the core modules and spikemo.data, spikemo.model, spikemo.text.
"""
