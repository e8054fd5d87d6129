"""The FastAPI app: recommend, rank, events, items and versions over the served model (`ServedModel`).

Errors are 4xx with a `detail` that says what was wrong: 422 for a body that
fails validation or names unknown items (FastAPI's shape: a list of
`{loc, msg, type}`), 404 for an unknown user or item in the path, 409 for an
added item that is in the trained catalogue, 401/403 for a missing or wrong API
key, 413 for a body over the size limit. Write and admin endpoints
(`/v1/events`, `/v1/items`, `/v1/admin/*`) need a key whenever keys are set;
read endpoints only with `protect_reads`; the probes never.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from pairrank.errors import ConfigError, DataError
from pairrank.serve import schemas
from pairrank.serve.auth import ApiKeys, Forbidden, Unauthorized
from pairrank.serve.events import Event
from pairrank.serve.metrics import ServiceMetrics
from pairrank.serve.middleware import LimitAndMeasure
from pairrank.serve.served import ServedModel
from pairrank.serve.service import Conflict, NewItem, NotFound, RankingService, Scored
from pairrank.serve.service import Request as Whose
from pairrank.version import __version__

MAX_BODY_BYTES = 1 << 20
DEMO_PAGE = Path(__file__).with_name("static") / "index.html"


def create_app(
    served: ServedModel | RankingService,
    keys: ApiKeys | None = None,
    *,
    protect_reads: bool = False,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    keys = keys or ApiKeys([])
    served = served if isinstance(served, ServedModel) else ServedModel(served)
    metrics = ServiceMetrics(served.service.store.count)
    metrics.served(served.service.version, served.service.model.name)
    served.on_switch.append(lambda service: metrics.served(service.version, service.model.name))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        served.start_watching()
        yield
        served.stop_watching()

    app = FastAPI(
        title="PairRank", version=__version__, description="Pair-wise recommendation ranking service", lifespan=lifespan
    )

    def writer(authorization: str | None = Header(default=None)) -> None:
        keys.check(authorization)

    def reader(authorization: str | None = Header(default=None)) -> None:
        if protect_reads:
            keys.check(authorization)

    app.add_middleware(LimitAndMeasure, metrics=metrics, max_body_bytes=max_body_bytes)

    @app.exception_handler(DataError)
    async def bad_data(_: Request, error: DataError) -> JSONResponse:
        return _unprocessable(error.message, error.field)

    @app.exception_handler(ConfigError)
    async def not_possible(_: Request, error: ConfigError) -> JSONResponse:
        return _unprocessable(str(error), None)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, error: Conflict) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)

    @app.exception_handler(NotFound)
    async def not_found(_: Request, error: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, error: Unauthorized) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, error: Forbidden) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=403)

    @app.post("/v1/recommend", response_model=schemas.RankedList, dependencies=[Depends(reader)])
    def recommend(body: schemas.RecommendRequest) -> schemas.RankedList:
        """The top k for a user (trained history and stored events) or a history; their items are left out."""
        service = served.service
        whose = Whose(body.user_id, body.history, body.exclude, body.categories)
        return _listed(service.recommend(whose, body.k, body.explain), service.version)

    @app.post("/v1/rank", response_model=schemas.RankedList, dependencies=[Depends(reader)])
    def rank(body: schemas.RankRequest) -> schemas.RankedList:
        """The given candidate items, best first, with the model's scores."""
        service = served.service
        return _listed(service.rank(Whose(body.user_id, body.history), body.items), service.version)

    @app.post("/v1/events", response_model=schemas.EventsStored, dependencies=[Depends(writer)])
    def events(body: schemas.EventsRequest) -> schemas.EventsStored:
        """Store a batch of feedback; it is committed before this answers, and a repeated event_id is stored
        once."""
        stored = served.service.add_events([Event(**event.model_dump()) for event in body.events])
        return schemas.EventsStored(stored=stored.stored, duplicates=stored.duplicates)

    @app.post("/v1/items", response_model=schemas.ItemsAdded, dependencies=[Depends(writer)])
    def add_items(body: schemas.ItemsRequest) -> schemas.ItemsAdded:
        """Add or update items by their text: embedded by the model's text path and recommendable as soon as this
        answers (models that place items by text: twotower, textknn)."""
        added = served.service.add_items([NewItem(**item.model_dump()) for item in body.items])
        return schemas.ItemsAdded(added=added)

    @app.get("/v1/items", response_model=schemas.ItemList, dependencies=[Depends(reader)])
    def search(
        q: str = Query("", max_length=200, description="part of a title or id; empty: the most popular"),
        k: int = Query(10, ge=1, le=schemas.MAX_K),
    ) -> schemas.ItemList:
        """Items whose title or id contains `q`, most interacted with first."""
        return schemas.ItemList(items=[schemas.Item(**found) for found in served.service.search(q, k)])

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def demo_page() -> HTMLResponse:
        """The demo page: pick a user or build a history, see ranked and explained items, send feedback."""
        return HTMLResponse(DEMO_PAGE.read_text())

    @app.get("/v1/items/{item_id}", response_model=schemas.Item, dependencies=[Depends(reader)])
    def item(item_id: str = PathParam(max_length=200)) -> schemas.Item:
        return schemas.Item(**served.service.item(item_id))

    @app.get("/v1/items/{item_id}/similar", response_model=schemas.RankedList, dependencies=[Depends(reader)])
    def similar(
        item_id: str = PathParam(max_length=200), k: int = Query(10, ge=1, le=schemas.MAX_K)
    ) -> schemas.RankedList:
        """What the model recommends to someone who has chosen only this item."""
        service = served.service
        return _listed(service.similar(item_id, k), service.version)

    @app.get("/healthz", response_model=schemas.Health)
    def healthz() -> schemas.Health:
        """The process is up."""
        return schemas.Health(status="ok")

    @app.get("/readyz", response_model=schemas.Health, responses={503: {"model": schemas.Health}})
    def readyz() -> Response:
        """The model is loaded and the event store answers."""
        service = served.service
        try:
            service.store.count()
        except Exception as error:  # any failure to reach the store means not ready
            return JSONResponse({"status": f"event store unavailable: {type(error).__name__}"}, status_code=503)
        return JSONResponse({"status": "ready", "model_version": service.version})

    @app.get("/v1/admin/versions", response_model=schemas.Versions, dependencies=[Depends(writer)])
    def versions() -> schemas.Versions:
        """The registry's versions and the one served."""
        listed = served.registry.versions() if served.registry else [served.service.version]
        return schemas.Versions(versions=listed, current=served.service.version)

    @app.post("/v1/admin/version", response_model=schemas.Versions, dependencies=[Depends(writer)])
    def switch(body: schemas.Switch) -> schemas.Versions:
        """Serve another version of the registry: this replica at once, the others within a second."""
        served.switch_to(body.version)
        return versions()

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(reader)])
    def prometheus() -> Response:
        """Prometheus text format."""
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")

    return app


def _unprocessable(message: str, field: str | None) -> JSONResponse:
    """A 422 in FastAPI's own validation-error shape, so a client reads every 422 the same way."""
    location = ["body", field] if field else ["body"]
    return JSONResponse({"detail": [{"loc": location, "msg": message, "type": "value_error"}]}, status_code=422)


def _listed(items: list[Scored], version: str) -> schemas.RankedList:
    return schemas.RankedList(items=[_scored(item) for item in items], model_version=version)


def _scored(item: Scored) -> schemas.ScoredItem:
    explanation = None
    if item.because is not None:
        explanation = schemas.Explanation(
            because=[schemas.Because(item_id=b.item_id, title=b.title) for b in item.because],
            shared_attributes=item.shared_attributes or [],
        )
    return schemas.ScoredItem(item_id=item.item_id, score=item.score, title=item.title, explanation=explanation)
