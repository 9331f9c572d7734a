"""The README's numbers come from the results they report: each is checked against the record it was copied from
(the shipped checkpoint's metadata, the voice model's config), so an edit to either side that leaves the other
stale fails here. Links between the documents point at files that exist."""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _table_after(text: str, marker: str) -> dict[str, str]:
    """The first Markdown table after `marker`, as header -> cell of its first row."""
    rows = [line for line in text[text.index(marker):].splitlines() if line.startswith("|")][:3]
    header, _, first = ([cell.strip() for cell in row.strip("|").split("|")] for row in rows)
    return dict(zip(header, first))


def test_the_readmes_checkpoint_table_is_the_checkpoints_recorded_dev_score():
    recorded = json.loads((REPO / "assets/checkpoints/spikemo-meld-text/config.json").read_text())["metrics"]["dev"]
    for text in (README, (REPO / "docs/results.md").read_text(encoding="utf-8")):
        table = _table_after(text, "**Shipped checkpoint**")
        assert float(table["weighted F1"].strip("*")) == recorded["weighted_f1"]
        assert float(table["accuracy"]) == recorded["accuracy"]
        assert {label: float(table[label]) for label in recorded["per_class_f1"]} == recorded["per_class_f1"]
    assert f"({recorded['n_utterances']} utterances)" in README


def test_the_readmes_voice_model_figure_is_its_recorded_cross_validation():
    folds = json.loads((REPO / "assets/voice/ravdess-compare/config.json").read_text())["training"]
    scores = folds["leave_actors_out"]
    assert (f"{scores['accuracy_mean']:.2f} ± {scores['accuracy_std']:.2f} % accuracy over {folds['folds']}"
            in README.replace("\n", " "))


@pytest.mark.parametrize("document", DOCS, ids=lambda path: path.name)
def test_links_between_documents_point_at_files_that_exist(document):
    text = document.read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)", text) if not t.startswith(("http://", "https://"))]
    missing = [t for t in targets if not (document.parent / t).exists()]
    assert not missing, missing
