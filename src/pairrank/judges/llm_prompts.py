"""The LLM judges' questions as text, whatever model answers them: the user's history block, the pair-wise
question (two candidates, A and B) and the list-wise one (up to 20 lettered candidates).

Both templates are options (`PromptSettings`); an item reads as its title cut to a token budget by the
answering model's tokenizer, optionally followed by its attributes (genres, tags, categories) in brackets under a
budget of their own (`item_labels`), and a candidate optionally by the attributes it has in common with the
history block's items (`shared_attributes`). The answer always starts with `ANSWER_PREFIX`, so the option letters
are scored as the next token at a fixed position.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pairrank.data.item_text import attribute_set
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
SHARED_SHOWN = 5  # `shared_attributes`: the most shared attributes a candidate names
LETTERS = tuple(f" {letter}" for letter in string.ascii_uppercase[:20])  # list-wise: up to 20 candidates


@dataclass
class PromptSettings:
    template: str = DEFAULT_TEMPLATE  # fields {history}, {a}, {b}
    history_items: int = 5  # latest history items in the prompt
    title_tokens: int = 24  # tokens kept of each item's title
    attribute_tokens: int = 0  # tokens kept of each item's attributes, in brackets after its title (0: none)
    shared_attributes: bool = False  # each candidate also names the attributes it shares with the history's items
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


class HistoryBlock(str):
    """A history block's text (what the prompts show), with the items it lists."""

    items: tuple[int, ...]

    def __new__(cls, text: str, items: Sequence[int]) -> HistoryBlock:
        block = super().__new__(cls, text)
        block.items = tuple(items)
        return block


class Prompts:
    """The questions for items known by their (already cut) titles, one per item index, and, for
    `shared_attributes`, by their '|'-joined attributes."""

    def __init__(self, titles: Sequence[str], settings: PromptSettings, attributes: Sequence[str] | None = None):
        self.titles, self.settings = list(titles), settings
        self.attribute_sets: list[frozenset[str]] | None = None
        if settings.shared_attributes and attributes is not None:
            self.attribute_sets = [attribute_set(text) for text in attributes]

    @classmethod
    def of_items(
        cls, item_titles: Sequence[str], item_attributes: Sequence[str] | None, tokenizer, settings: PromptSettings
    ) -> Prompts:
        """The questions for items as `item_labels` names them."""
        return cls(item_labels(item_titles, item_attributes, tokenizer, settings), settings, item_attributes)

    def history_text(self, history: Sequence[int]) -> HistoryBlock:
        """The history block: the latest `history_items` items (-1 padding ignored), oldest first, one per line."""
        latest = [int(item) for item in history if item >= 0][-self.settings.history_items :]
        return HistoryBlock("\n".join(f"- {self.titles[item]}" for item in latest), latest)

    def pair_question(self, history: str, a: int, b: int) -> str:
        return self.settings.template.format(
            history=history, a=self.candidate(history, a), b=self.candidate(history, b)
        )

    def list_question(self, history: str, items: Sequence[int]) -> str:
        """Up to 20 candidates, each on a line after its letter."""
        if len(items) > len(LETTERS):
            raise ConfigError(f"the list-wise judge reads at most {len(LETTERS)} candidates, not {len(items)}")
        lines = "\n".join(f"{letter.strip()}: {self.candidate(history, item)}" for letter, item in zip(LETTERS, items))
        return self.settings.list_template.format(history=history, candidates=lines)

    def candidate(self, history: str, item: int) -> str:
        """A candidate as a question names it: its label, then, with `shared_attributes` and attributes known, the
        (at most `SHARED_SHOWN`) attributes it shares with the history block's items, the most shared first, each
        with how many of those items have it ("[in common: comedy 4, drama 1]", or "[in common: none]")."""
        if self.attribute_sets is None:
            return self.titles[item]
        if not isinstance(history, HistoryBlock):
            raise TypeError("shared_attributes needs the history block that history_text made, with its items")
        counts = Counter(name for shown in history.items for name in self.attribute_sets[shown])
        shared = sorted(self.attribute_sets[item] & counts.keys(), key=lambda name: (-counts[name], name))
        named = ", ".join(f"{name} {counts[name]}" for name in shared[:SHARED_SHOWN])
        return f"{self.titles[item]} [in common: {named or 'none'}]"
