"""The service's request and response bodies (pydantic): limits here are what the OpenAPI schema promises."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_K = 1000
MAX_IDS = 1000  # items in a history, a candidate list, an exclusion list
MAX_EVENTS = 1000  # events in one batch

Id = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Whose(Strict):
    """A user id (its trained history and stored events), or an explicit history of item ids, oldest first."""

    user_id: Id | None = None
    history: Annotated[list[Id], Field(min_length=1, max_length=MAX_IDS)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Whose:
        if (self.user_id is None) == (self.history is None):
            raise ValueError("give either user_id or history, not both")
        return self


class RecommendRequest(Whose):
    k: Annotated[int, Field(ge=1, le=MAX_K)] = 10
    exclude: Annotated[list[Id], Field(max_length=MAX_IDS)] = []
    categories: Annotated[list[Id], Field(max_length=100)] = []
    explain: bool = False


class RankRequest(Whose):
    items: Annotated[list[Id], Field(min_length=1, max_length=MAX_IDS)]


class Because(BaseModel):
    item_id: str
    title: str


class Explanation(BaseModel):
    because: list[Because]
    shared_attributes: list[str]


class ScoredItem(BaseModel):
    item_id: str
    score: float | None
    title: str | None = None
    explanation: Explanation | None = None


class RankedList(BaseModel):
    items: list[ScoredItem]
    model_version: str


class EventIn(Strict):
    user_id: Id
    item_id: Id
    event: Annotated[str, Field(min_length=1, max_length=50)] = "interaction"
    timestamp: Annotated[float, Field(ge=0, le=1e11)] | None = None  # seconds since the epoch
    event_id: Id | None = None


class EventsRequest(Strict):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_EVENTS)]


class EventsStored(BaseModel):
    stored: int
    duplicates: int


class NewItemIn(Strict):
    item_id: Id
    title: Annotated[str, Field(min_length=1, max_length=500)]
    text: Annotated[str, Field(max_length=5000)] = ""  # a description, read by the text encoder with the title
    attributes: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=50)] = []


class ItemsRequest(Strict):
    items: Annotated[list[NewItemIn], Field(min_length=1, max_length=MAX_EVENTS)]


class ItemsAdded(BaseModel):
    added: int


class Item(BaseModel):
    item_id: str
    title: str | None = None
    attributes: list[str] | None = None


class ItemList(BaseModel):
    items: list[Item]


class Health(BaseModel):
    status: str
    model_version: str | None = None


class Versions(BaseModel):
    versions: list[str]
    current: str


class Switch(Strict):
    version: Id
