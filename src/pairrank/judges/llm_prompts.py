"""The LLM judges' questions as text, whatever model answers them: the user's history block, the pair-wise
question (two candidates, A and B) and the list-wise one (up to 20 lettered candidates).

Both templates are options (`PromptSettings`); an item reads as its title cut to a token budget by the
answering model's tokenizer, optionally followed by its attributes (genres, tags, categories) in brackets under a
budget of their own (`item_labels`). The answer always starts with `ANSWER_PREFIX`, so the option letters are
scored as the next token at a fixed position.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from pairrank.errors import ConfigError

DEFAULT_TEMPLATE = (
    "A user interacted with these items, oldest first:\n{history}\n\n"
    "Which of these two items will the user choose next?\nA: {a}\nB: {b}\n\nAnswer with A or B."
)
TEMPLATE_FIELDS = {"history", "a", "b"}
DEFAULT_LIST_TEMPLATE = (
    "A user interacted with these items, oldest first:\n{history}\n\n"
    "Which of these items will the user choose next?\n{candidates}\n\nAnswer with the letter of one item."
)
LIST_TEMPLATE_FIELDS = {"history", "candidates"}
ANSWER_PREFIX = "Answer:"
OPTIONS = (" A", " B")
CHARS_PER_TOKEN = 4  # a title's character budget per token where no tokenizer is at hand
LETTERS = tuple(f" {letter}" for letter in string.ascii_uppercase[:20])  # list-wise: up to 20 candidates


@dataclass
class PromptSettings:
    template: str = DEFAULT_TEMPLATE  # fields {history}, {a}, {b}
    history_items: int = 5  # latest history items in the prompt
    title_tokens: int = 24  # tokens kept of each item's title
    attribute_tokens: int = 0  # tokens kept of each item's attributes, in brackets after its title (0: none)
    list_template: str = DEFAULT_LIST_TEMPLATE  # list-wise: fields {history}, {candidates} (lettered lines)

    def __post_init__(self) -> None:
        for name, template, expected in (
            ("template", self.template, TEMPLATE_FIELDS),
            ("list_template", self.list_template, LIST_TEMPLATE_FIELDS),
        ):
            fields = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
            if fields != expected:
                wanted = ", ".join(f"{{{field}}}" for field in sorted(expected))
                raise ConfigError(f"the {name} must use exactly the fields {wanted}, not {sorted(fields)}")


def truncated_titles(titles: Sequence[str], tokenizer, budget: int) -> list[str]:
    """Each title cut to `budget` tokens of `tokenizer` (then "..."); without a tokenizer (a model behind a
    server), to `budget` * CHARS_PER_TOKEN characters."""
    if tokenizer is None:
        chars = budget * CHARS_PER_TOKEN
        return [title if len(title) <= chars else title[:chars].rstrip() + "..." for title in titles]
    ids = tokenizer(list(titles), add_special_tokens=False)["input_ids"]
    return [
        title if len(tokens) <= budget else tokenizer.decode(tokens[:budget]).strip() + "..."
        for title, tokens in zip(titles, ids)
    ]


def item_labels(
    titles: Sequence[str], attributes: Sequence[str] | None, tokenizer, settings: PromptSettings
) -> list[str]:
    """Each item as the prompts name it: its title cut to `title_tokens`, then, with `attribute_tokens` set and
    attributes known, its '|'-joined attributes as a comma list in brackets cut to `attribute_tokens`
    ("Heat (1995) (Action, Crime, Thriller)")."""
    labels = truncated_titles(titles, tokenizer, settings.title_tokens)
    if not settings.attribute_tokens or attributes is None:
        return labels
    listed = truncated_titles([text.replace("|", ", ") for text in attributes], tokenizer, settings.attribute_tokens)
    return [f"{label} ({extra})" if extra else label for label, extra in zip(labels, listed)]


class Prompts:
    """The questions for items known by their (already cut) titles, one per item index."""

    def __init__(self, titles: Sequence[str], settings: PromptSettings):
        self.titles, self.settings = list(titles), settings

    def history_text(self, history: Sequence[int]) -> str:
        """The history block: the latest `history_items` items (-1 padding ignored), oldest first, one per line."""
        latest = [int(item) for item in history if item >= 0][-self.settings.history_items :]
        return "\n".join(f"- {self.titles[item]}" for item in latest)

    def pair_question(self, history: str, a: int, b: int) -> str:
        return self.settings.template.format(history=history, a=self.titles[a], b=self.titles[b])

    def list_question(self, history: str, items: Sequence[int]) -> str:
        """Up to 20 candidates, each on a line after its letter."""
        if len(items) > len(LETTERS):
            raise ConfigError(f"the list-wise judge reads at most {len(LETTERS)} candidates, not {len(items)}")
        lines = "\n".join(f"{letter.strip()}: {self.titles[item]}" for letter, item in zip(LETTERS, items))
        return self.settings.list_template.format(history=history, candidates=lines)
