"""The HTTP service over real runs (EASE, ItemKNN, TextKNN) and real stores (SQLite, and a PostgreSQL server that
tools/postgres.py starts): every endpoint, auth, bad input, live feedback, added items, an acknowledged event
surviving SIGKILL of a real `pairrank serve` process, two replicas over one PostgreSQL, hot reload of a
registry's version under load, and retraining with the stored feedback."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from conftest import free_port, start_server
from fastapi.testclient import TestClient

from pairrank.serve.added_items import CHECK_SECONDS
from pairrank.serve.app import create_app
from pairrank.serve.auth import ApiKeys
from pairrank.serve.events import Event, EventStore
from pairrank.serve.service import NewItem, RankingService, Request

KEY = "test-key-1"
WRITE = {"Authorization": f"Bearer {KEY}"}
POSTGRES = Path(__file__).resolve().parents[1] / "tools" / "postgres.py"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL on loopback, started (and installed where missing) by tools/postgres.py."""
    folder = Path(tempfile.mkdtemp(prefix="pairrank-pg-"))  # under /tmp, which the postgres user can reach
    started = subprocess.run([sys.executable, str(POSTGRES), "start", str(folder)], capture_output=True, text=True)
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"no PostgreSQL server could start here: {started.stderr.strip()}")
    yield started.stdout.strip()
    subprocess.run([sys.executable, str(POSTGRES), "stop", str(folder)], check=False)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    """An empty event store's location: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "events.sqlite")
    return new_database(request.getfixturevalue("postgres_server"))


def new_database(server: str) -> str:
    """A new, empty database on the PostgreSQL server, as a URL."""
    name = f"events_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def service(ease_run, tmp_path) -> RankingService:
    return RankingService(ease_run, EventStore(tmp_path / "events.sqlite"))


@pytest.fixture
def client(service) -> TestClient:
    return TestClient(create_app(service, ApiKeys([KEY])))


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def trained_items(service: RankingService, user_id: str) -> set[str]:
    user = service.model.users.index([user_id])[0]
    return set(service.model.items.id_of(service.model.user_history(user)))


def test_recommend_by_user_leaves_out_their_items_and_explains_from_them(client, service):
    response = client.post("/v1/recommend", json={"user_id": "1", "k": 5, "explain": True})
    listed = response.json()
    assert ids(response) and len(listed["items"]) == 5 and listed["model_version"] == service.version
    assert not set(ids(response)) & trained_items(service, "1")
    scores = [item["score"] for item in listed["items"]]
    assert scores == sorted(scores, reverse=True)
    for item in listed["items"]:
        because = [b["item_id"] for b in item["explanation"]["because"]]
        assert because and set(because) <= trained_items(service, "1")
        assert item["title"]


def test_an_event_changes_the_next_list_with_no_retraining(client, service):
    before = ids(client.post("/v1/recommend", json={"user_id": "1", "k": 10}))
    chosen = before[:3]
    events = [{"user_id": "1", "item_id": item, "event": "click"} for item in chosen]
    assert client.post("/v1/events", json={"events": events}, headers=WRITE).json() == {"stored": 3, "duplicates": 0}
    after = ids(client.post("/v1/recommend", json={"user_id": "1", "k": 10}))
    assert not set(after) & set(chosen)  # stored events count as seen
    assert after[:7] != before[3:]  # re-scored from the longer history, not only filtered
    assert service.history_of("1")[-3:] == chosen


def test_a_new_user_is_served_from_their_events_alone(client):
    assert client.post("/v1/recommend", json={"user_id": "newcomer"}).status_code == 404
    events = [{"user_id": "newcomer", "item_id": "1", "timestamp": 2.0}, {"user_id": "newcomer", "item_id": "260"}]
    client.post("/v1/events", json={"events": events}, headers=WRITE)
    by_user = ids(client.post("/v1/recommend", json={"user_id": "newcomer", "k": 5}))
    by_history = ids(client.post("/v1/recommend", json={"history": ["1", "260"], "k": 5}))
    assert by_user == by_history and not {"1", "260"} & set(by_user)


def test_a_retried_batch_is_stored_once(client, service):
    batch = {"events": [{"user_id": "2", "item_id": "1", "event_id": "e-1"}, {"user_id": "2", "item_id": "3"}]}
    assert client.post("/v1/events", json=batch, headers=WRITE).json() == {"stored": 2, "duplicates": 0}
    assert client.post("/v1/events", json=batch, headers=WRITE).json() == {"stored": 1, "duplicates": 1}
    assert service.store.count() == 3


def test_rank_orders_the_given_items_by_the_models_scores(client):
    listed = client.post("/v1/recommend", json={"user_id": "1", "k": 30}).json()["items"]
    response = client.post(
        "/v1/rank", json={"user_id": "1", "items": [listed[20]["item_id"], listed[0]["item_id"], listed[10]["item_id"]]}
    )
    assert response.json()["items"] == [listed[0], listed[10], listed[20]]  # same scores as the list's


def test_filters_exclude_ids_and_keep_categories(client, service):
    top = ids(client.post("/v1/recommend", json={"user_id": "1", "k": 5}))
    assert top[0] not in ids(client.post("/v1/recommend", json={"user_id": "1", "k": 5, "exclude": [top[0]]}))
    comedies = ids(client.post("/v1/recommend", json={"user_id": "1", "k": 5, "categories": ["Comedy"]}))
    assert len(comedies) == 5
    for item_id in comedies:
        assert "Comedy" in client.get(f"/v1/items/{item_id}").json()["attributes"]


def test_item_lookup_and_similar_items(client):
    item = client.get("/v1/items/1").json()
    assert item["item_id"] == "1" and item["title"].startswith("Toy Story") and "Animation" in item["attributes"]
    similar = ids(client.get("/v1/items/1/similar", params={"k": 5}))
    assert len(similar) == 5 and "1" not in similar
    assert client.get("/v1/items/no-such-item").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/v1/recommend", {"user_id": "1", "history": ["1"]}, 422, "either user_id or history"),
        ("/v1/recommend", {}, 422, "either user_id or history"),
        ("/v1/recommend", {"user_id": "1", "k": 0}, 422, "greater than or equal to 1"),
        ("/v1/recommend", {"user_id": "1", "colour": "red"}, 422, "Extra inputs"),
        ("/v1/recommend", {"history": ["no-such-item"]}, 422, "none of the history's items"),
        ("/v1/recommend", {"user_id": "nobody"}, 404, "unknown user 'nobody'"),
        ("/v1/rank", {"user_id": "1", "items": ["1", "no-such-item"]}, 422, "'no-such-item'"),
        ("/v1/rank", {"user_id": "1", "items": []}, 422, "at least 1 item"),
        ("/v1/recommend", [1, 2], 422, "valid dictionary"),
    ],
)
def test_bad_input_is_a_4xx_that_says_what_is_wrong(client, path, body, status, says):
    response = client.post(path, json=body)
    assert response.status_code == status and says in response.text


def test_a_body_that_is_not_json_or_too_large_is_refused_and_nothing_is_stored(service):
    client = TestClient(create_app(service, ApiKeys([KEY]), max_body_bytes=2000))
    assert (
        client.post(
            "/v1/events", content=b"{not json", headers={**WRITE, "content-type": "application/json"}
        ).status_code
        == 422
    )
    many = {"events": [{"user_id": "1", "item_id": "1"}] * 100}
    response = client.post("/v1/events", json=many, headers=WRITE)
    assert response.status_code == 413 and "2000 bytes" in response.text
    event = b'{"user_id": "1", "item_id": "1"}'
    chunked = {**WRITE, "content-type": "application/json"}  # a generator body is sent without Content-Length
    big = client.post("/v1/events", content=iter([b'{"events": [', b",".join([event] * 100), b"]}"]), headers=chunked)
    assert big.status_code == 413 and "2000 bytes" in big.text
    assert service.store.count() == 0
    small = client.post("/v1/events", content=iter([b'{"events": [', event, b"]}"]), headers=chunked)
    assert small.status_code == 200 and service.store.count() == 1


def test_write_endpoints_need_a_key_and_reads_only_when_protected(service):
    client = TestClient(create_app(service, ApiKeys([KEY, "second-key"])))
    batch = {"events": [{"user_id": "1", "item_id": "1"}]}
    missing = client.post("/v1/events", json=batch)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/events", json=batch, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.post("/v1/events", json=batch, headers={"Authorization": "Bearer second-key"}).status_code == 200
    assert client.post("/v1/recommend", json={"user_id": "1"}).status_code == 200
    protected = TestClient(create_app(service, ApiKeys([KEY]), protect_reads=True))
    assert protected.post("/v1/recommend", json={"user_id": "1"}).status_code == 401
    assert protected.post("/v1/recommend", json={"user_id": "1"}, headers=WRITE).status_code == 200
    assert protected.get("/healthz").status_code == 200  # probes stay open
    assert service.store.count() == 1


def test_keys_are_kept_only_as_digests(monkeypatch):
    monkeypatch.setenv("PAIRRANK_API_KEYS", "from-env, other")
    keys = ApiKeys.from_options(["from-flag"])
    assert "from-env" not in repr(vars(keys)) and "from-flag" not in repr(vars(keys))
    for good in ("from-env", "other", "from-flag"):
        keys.check(f"Bearer {good}")


def test_health_readiness_metrics_and_schema(client):
    client.post("/v1/recommend", json={"user_id": "1"})
    client.post("/v1/events", json={"events": [{"user_id": "1", "item_id": "1"}]}, headers=WRITE)
    assert client.get("/healthz").json() == {"status": "ok", "model_version": None}
    assert client.get("/readyz").json()["status"] == "ready"
    metrics = client.get("/metrics").text
    assert 'pairrank_requests_total{method="POST",route="/v1/recommend",status="200"} 1.0' in metrics
    assert "pairrank_events_stored 1.0" in metrics and 'pairrank_model_info{model="ease"' in metrics
    assert 'pairrank_request_seconds_bucket{le="0.005",route="/v1/recommend"}' in metrics
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/recommend", "/v1/rank", "/v1/events", "/v1/items/{item_id}", "/v1/items/{item_id}/similar"} <= set(
        paths
    )


def test_an_acknowledged_event_survives_sigkill_of_the_server(ease_run, database):
    db, port = database, free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(ease_run, db, port)
    try:
        before = ids(httpx.post(f"{url}/v1/recommend", json={"user_id": "1", "k": 5}))
        batch = {"events": [{"user_id": "1", "item_id": before[0], "event_id": "kept"}]}
        assert httpx.post(f"{url}/v1/events", json=batch, headers=WRITE).json() == {"stored": 1, "duplicates": 0}
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    assert EventStore(db).history("1") == [before[0]]
    server = start_server(ease_run, db, port)
    try:
        assert before[0] not in ids(httpx.post(f"{url}/v1/recommend", json={"user_id": "1", "k": 5}))
        assert httpx.post(f"{url}/v1/events", json=batch, headers=WRITE).json() == {"stored": 0, "duplicates": 1}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_store_keeps_order_by_timestamp_then_arrival_and_each_event_id_once(database):
    store = EventStore(database)
    batch = [
        Event("u", "b", timestamp=20.0, event_id="b"),
        Event("u", "a", timestamp=10.0),
        Event("u", "c", timestamp=20.0),
    ]
    assert store.add(batch).stored == 3 and store.add(batch[:1]).duplicates == 1
    assert store.history("u") == ["a", "b", "c"] and store.history("nobody") == [] and store.count() == 3


def test_two_replicas_over_one_postgresql_see_each_others_events(ease_run, postgres_server):
    database, ports = new_database(postgres_server), (free_port(), free_port())
    first, second = (start_server(ease_run, database, port) for port in ports)
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        before = ids(httpx.post(f"{urls[1]}/v1/recommend", json={"user_id": "1", "k": 10}))
        events = [{"user_id": "1", "item_id": item} for item in before[:2]]
        assert httpx.post(f"{urls[0]}/v1/events", json={"events": events}, headers=WRITE).status_code == 200
        after = ids(httpx.post(f"{urls[1]}/v1/recommend", json={"user_id": "1", "k": 10}))
        assert not set(after) & set(before[:2]) and after[:8] != before[2:]
    finally:
        for server in (first, second):
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def textknn_run(tmp_path_factory, loo_data) -> Path:
    from pairrank.experiments.training import train_model, write_run

    model, info = train_model(loo_data, "textknn")
    return write_run(model, info, tmp_path_factory.mktemp("textknn-run"))


def test_an_added_item_is_recommendable_at_once_and_seen_by_every_replica(textknn_run, tmp_path):
    db = tmp_path / "events.sqlite"
    first = TestClient(create_app(RankingService(textknn_run, EventStore(db)), ApiKeys([KEY])))
    second = TestClient(create_app(RankingService(textknn_run, EventStore(db)), ApiKeys([KEY])))
    top = first.post("/v1/recommend", json={"user_id": "1", "k": 5}).json()["items"]
    original = first.get(f"/v1/items/{top[0]['item_id']}").json()
    copy = {"item_id": "new-1", "title": original["title"], "attributes": original["attributes"]}
    assert first.post("/v1/items", json={"items": [copy]}, headers=WRITE).json() == {"added": 1}
    for client in (first, second):  # the replica that took it serves it at once; the other reads the store
        if client is second:
            time.sleep(CHECK_SECONDS)
        listed = client.post("/v1/recommend", json={"user_id": "1", "k": 5, "explain": True}).json()["items"]
        assert {listed[0]["item_id"], listed[1]["item_id"]} == {"new-1", top[0]["item_id"]}
        assert listed[0]["score"] == pytest.approx(listed[1]["score"], abs=1e-5)  # the same text, the same score
        assert listed[0]["explanation"]["because"] and listed[1]["explanation"]["because"]
    assert second.get("/v1/items/new-1").json() == {**copy, "attributes": sorted(copy["attributes"])}
    ranked = ids(second.post("/v1/rank", json={"user_id": "1", "items": [top[4]["item_id"], "new-1"]}))
    assert ranked == ["new-1", top[4]["item_id"]]
    second.post("/v1/events", json={"events": [{"user_id": "1", "item_id": "new-1"}]}, headers=WRITE)
    assert "new-1" not in ids(first.post("/v1/recommend", json={"user_id": "1", "k": 5}))


def test_adding_items_is_refused_where_it_cannot_work(textknn_run, client, tmp_path):
    assert client.post("/v1/items", json={"items": [{"item_id": "x", "title": "X"}]}).status_code == 401
    refused = client.post("/v1/items", json={"items": [{"item_id": "x", "title": "X"}]}, headers=WRITE)
    assert refused.status_code == 422 and "twotower, textknn" in refused.text  # EASE cannot place an item by text
    text_model = TestClient(create_app(RankingService(textknn_run, EventStore(tmp_path / "text.sqlite")), ApiKeys([])))
    trained = text_model.post("/v1/items", json={"items": [{"item_id": "1", "title": "Toy Story again"}]})
    assert trained.status_code == 409 and "'1'" in trained.text and "retrain" in trained.text


def test_switching_versions_hot_reloads_every_replica_without_failing_a_request(ease_run, loo_data, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from typer.testing import CliRunner

    from pairrank.cli import app
    from pairrank.experiments.training import train_model, write_run

    registry = tmp_path / "registry"
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["registry", "add", "--registry", str(registry), "--run", str(ease_run), "--version", "v1"]
        ).exit_code
        == 0
    )
    other = write_run(*train_model(loo_data, "itemknn"), tmp_path / "itemknn-run")
    assert (
        runner.invoke(
            app, ["registry", "add", "--registry", str(registry), "--run", str(other), "--version", "v2"]
        ).exit_code
        == 0
    )
    db, ports = tmp_path / "events.sqlite", (free_port(), free_port())
    servers = [start_server(registry, db, port) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]

        def ask(i: int) -> tuple[int, str]:
            response = httpx.post(f"{urls[i % 2]}/v1/recommend", json={"user_id": "1", "k": 10}, timeout=30)
            return response.status_code, response.json().get("model_version", "")

        with ThreadPoolExecutor(4) as pool:
            before = list(pool.map(ask, range(20)))
            switched = pool.submit(
                runner.invoke, app, ["registry", "activate", "--registry", str(registry), "--version", "v2"]
            )
            during = list(pool.map(ask, range(200)))
            assert switched.result().exit_code == 0
            time.sleep(2.5)  # each replica checks the registry every second
            after = list(pool.map(ask, range(20)))
        assert {status for status, _ in before + during + after} == {200}
        assert {version for _, version in before} == {"v1"} and {version for _, version in after} == {"v2"}
        answered = [version for _, version in during]
        assert set(answered) <= {"v1", "v2"}
        versions = httpx.get(f"{urls[0]}/v1/admin/versions", headers=WRITE).json()
        assert versions == {"versions": ["v1", "v2"], "current": "v2"}
        back = httpx.post(f"{urls[1]}/v1/admin/version", json={"version": "v1"}, headers=WRITE).json()
        assert back["current"] == "v1"
        missing = httpx.post(f"{urls[1]}/v1/admin/version", json={"version": "v9"}, headers=WRITE)
        assert missing.status_code == 422 and "no version 'v9'" in missing.text
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


def test_retrain_folds_stored_events_and_added_items_into_a_new_version(textknn_run, tmp_path):
    from typer.testing import CliRunner

    from pairrank.cli import app
    from pairrank.models.registry import load_model

    db = tmp_path / "events.sqlite"
    service = RankingService(textknn_run, EventStore(db))
    service.add_items([NewItem("new-1", "A Space Western (2030)", "Cowboys in orbit.", ["Sci-Fi", "Western"])])
    service.add_events([Event("1", "new-1", timestamp=2e9), Event("1", "2", timestamp=2e9 + 1), Event("1", "nope")])
    result = CliRunner().invoke(
        app, ["retrain", "--run", str(textknn_run), "--db", str(db), "--out", str(tmp_path / "v2")]
    )
    assert result.exit_code == 0, result.output
    assert "2 stored events learned from (1 on unknown items skipped), 1 added items" in result.output
    model = load_model(tmp_path / "v2")
    new = model.items.index(["new-1"])[0]
    assert model.item_titles[new] == "A Space Western (2030)" and model.item_attributes[new] == "Sci-Fi|Western"
    user = model.users.index(["1"])[0]
    assert {"new-1", "2"} <= set(model.items.id_of(model.user_history(user)))  # learned from the events
    missing = CliRunner().invoke(
        app,
        [
            "retrain",
            "--run",
            str(textknn_run),
            "--db",
            str(db),
            "--out",
            str(tmp_path / "v3"),
            "--split",
            str(tmp_path / "none"),
        ],
    )
    assert missing.exit_code == 2 and "split directory not found" in missing.output


def test_a_vector_model_is_served_from_its_index_with_the_models_own_ranking(textknn_run, tmp_path):
    exact = RankingService(textknn_run, EventStore(tmp_path / "a.sqlite"))
    approximate = RankingService(textknn_run, EventStore(tmp_path / "b.sqlite"), exact_limit=0)
    assert exact.index.exact and not approximate.index.exact
    model = exact.model
    for user_id in ("1", "7", "30"):
        user = model.users.index([user_id])[0]
        expected, scores = model.recommend(np.array([user]), 20)  # the trained user, as the model scores them
        listed = exact.recommend(Request(user_id=user_id), 20)
        assert [s.item_id for s in listed] == list(model.items.id_of(expected[0]))
        np.testing.assert_allclose([s.score for s in listed], scores[0], rtol=1e-4)
        found = {s.item_id for s in approximate.recommend(Request(user_id=user_id), 20)}
        assert len(found & {s.item_id for s in listed}) >= 18  # HNSW finds nearly all of the exact top 20


def test_added_item_revisions_committed_out_of_order_are_neither_missed_nor_let_win(textknn_run, tmp_path):
    from pairrank.serve.events import ITEMS

    store = EventStore(tmp_path / "events.sqlite")
    service = RankingService(textknn_run, store)

    def commit(seq: int, item_id: str, title: str) -> None:  # as another replica's transaction would
        with store.engine.begin() as connection:
            connection.execute(
                sa.insert(ITEMS).values(seq=seq, item_id=item_id, title=title, description="", attributes="")
            )

    commit(5, "a", "A, second version")
    assert service.added.refresh().titles == ("A, second version",)
    commit(3, "b", "B")  # committed late, below the newest sequence number seen
    commit(4, "a", "A, first version")
    snapshot = service.added.refresh()
    assert dict(zip(snapshot.ids, snapshot.titles)) == {"a": "A, second version", "b": "B"}
