"""The data dictionary in docs/ is what the record models say, and covers every topic."""

from __future__ import annotations

from pathlib import Path

from gridstream import topics
from warehouse.dictionary import data_dictionary

DOCS = Path(__file__).parents[3] / "docs" / "data-dictionary.md"


def test_the_checked_in_dictionary_is_the_generated_one() -> None:
    # After changing a record: gridstream dictionary > docs/data-dictionary.md
    assert DOCS.read_text() == data_dictionary()


def test_every_topic_and_column_is_described() -> None:
    text = data_dictionary()
    for topic in topics.ALL:
        assert f"## `{topic.name}`: {topic.record.__name__}" in text
        for name in topic.record.model_fields:
            assert f"| `{name}` |" in text, (topic.name, name)
