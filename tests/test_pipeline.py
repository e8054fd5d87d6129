"""The multi-stage pipeline: retrieval union, FAISS search, LambdaRank fusion, and the model on real data."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import final_run

from pairrank.errors import ConfigError
from pairrank.experiments.training import train_model
from pairrank.models.config import replace_options
from pairrank.models.registry import load_model
from pairrank.pipeline.features import attribute_vectors, feature_names
from pairrank.pipeline.fusion import Fusion
from pairrank.pipeline.judge_blend import FOLDS, fused_validation_lists
from pairrank.pipeline.model import Pipeline, _below_warm, _distinct
from pairrank.pipeline.postprocess import attribute_mask, mmr
from pairrank.pipeline.retrieve import union
from pairrank.pipeline.vector_index import VectorIndex, recall_against_exact

FAST = {"retrievers": ["ease", "itemknn", "textknn"]}  # no torch training: seconds, not minutes


def test_union_takes_items_rank_by_rank_each_once():
    first = np.array([[5, 1, 2], [7, -1, -1]])
    second = np.array([[1, 9, 5], [7, 8, -1]])
    assert union([first, second]).tolist() == [[5, 1, 9, 2], [7, 8, -1, -1]]


def test_exact_index_matches_brute_force_and_keeps_to_allowed_items():
    rng = np.random.default_rng(0)
    items, queries = rng.normal(size=(500, 16)), rng.normal(size=(20, 16))
    index = VectorIndex(items)
    found, scores = index.search(queries, 10)
    assert index.exact
    assert np.array_equal(found, np.argsort(-(queries @ items.T), axis=1)[:, :10])
    allowed = np.arange(100, 150)
    found, _ = index.search(queries, 10, allowed)
    assert np.isin(found, allowed).all()
    assert np.array_equal(found[:, 0], 100 + np.argmax(queries @ items[100:150].T, axis=1))


def test_hnsw_index_is_used_above_the_limit_and_finds_most_of_the_exact_top():
    rng = np.random.default_rng(1)
    items, queries = rng.normal(size=(3000, 32)).astype(np.float32), rng.normal(size=(50, 32))
    assert not VectorIndex(items, exact_limit=1000).exact
    assert recall_against_exact(items, queries, 100) > 0.9


def test_fusion_learns_the_relevant_feature_and_survives_its_text_format():
    rng = np.random.default_rng(2)
    groups, size = 300, 40
    signal, noise = rng.normal(size=groups * size), rng.normal(size=groups * size)
    labels = np.zeros(groups * size, dtype=np.int32)
    best = (signal + 0.3 * rng.normal(size=signal.size)).reshape(groups, size).argmax(axis=1)
    labels[np.arange(groups) * size + best] = 1
    features = np.stack([noise, signal], axis=1).astype(np.float32)
    options = dict(trees=100, learning_rate=0.1, leaves=7, min_child_samples=20, seed=0, negatives=100)
    fusion, report = Fusion.fit(features, labels, np.full(groups, size), ["noise", "signal"], **options)
    assert report["trees"] >= 1
    assert fusion.importance()["signal"] > 0.8
    reloaded = Fusion.from_text(fusion.to_text())
    assert np.allclose(reloaded.predict(features), fusion.predict(features))
    scores = fusion.predict(features).reshape(groups, size)
    assert (scores.argmax(axis=1) == best).mean() > 0.5  # chance: 1 in 40


@pytest.mark.parametrize(
    "options, message",
    [
        ({"retrievers": []}, "at least one retriever"),
        ({"retrievers": ["ease", "nope"]}, "unknown model 'nope'"),
        ({"retrievers": ["ease", "ease"]}, "listed twice"),
        ({"retriever_options": {"textknn": {"decay": 0.5}}, "retrievers": ["ease"]}, "not in retrievers"),
        ({"retriever_options": {"ease": {"l2": -1.0}}}, "pipeline/ease: option 'l2'"),
    ],
)
def test_bad_pipeline_options_fail_before_any_data_is_read(options, message):
    with pytest.raises(ConfigError, match=message):
        Pipeline(options)


@pytest.fixture(scope="module")
def pipeline_run(loo_data, tmp_path_factory):
    return final_run(tmp_path_factory, loo_data, "pipeline", FAST)


def test_final_pipeline_keeps_the_fusion_learned_on_validation_and_refits_retrievers(loo_data, pipeline_run):
    model, _ = pipeline_run
    selected = Pipeline(FAST).fit(loo_data.train(), loo_data.valid())
    assert model.fusion.to_text() == selected.fusion.to_text()  # deterministic: the same labels, the same trees
    everything = loo_data.train_and_valid().matrix
    for retriever in model.retrievers.values():
        assert (retriever.history != everything).nnz == 0  # refit on train+valid
    recall = model.report["label_recall@200"]
    assert recall["union"] >= max(recall[name] for name in FAST["retrievers"])
    fusion = model.report["fusion"]
    assert fusion["labels"] >= fusion["groups"] > 0  # every user learned from has a relevant candidate


def test_held_out_labels_come_from_retrievers_that_never_saw_them(loo_data):
    train, valid = loo_data.train(), loo_data.valid()
    held = train.latest_rows(2)
    per_user = np.bincount(train.user_index, minlength=train.n_users)
    assert (np.bincount(train.user_index[held], minlength=train.n_users) == np.minimum(2, per_user // 2)).all()
    latest = train.sequences(1, -1)[:, 0]
    held_pairs = set(zip(train.user_index[held], train.item_index[held]))
    assert all((user, latest[user]) in held_pairs for user in np.flatnonzero(per_user >= 2))
    features, labels, sizes, _ = Pipeline({**FAST, "held_out_items": 2}).held_out_rows(train, valid)
    # held-out items are candidates, so no retriever had them in its history (seen items are never retrieved)
    assert labels.sum() > len(valid.active_users())
    union_rank = features[:, feature_names(FAST["retrievers"]).index("union_rank")]
    assert len(labels) == sizes.sum() and union_rank.min() >= 0


def test_pipeline_recommends_unseen_items_and_reloads_to_the_same_lists(loo_data, pipeline_run):
    model, folder = pipeline_run
    users = np.arange(len(loo_data.users))
    items, scores = model.recommend(users, 20)
    seen = model.history[users].toarray().astype(bool)
    assert not seen[np.repeat(users, 20), items.ravel()].any()
    assert (np.diff(scores, axis=1) <= 0).all()
    assert set(model.latency) == {"retrieve", "features", "fusion"}
    again, _ = load_model(folder).recommend(users, 20)
    assert np.array_equal(items, again)


def test_pipeline_ranks_given_lists_as_it_ranks_its_own_candidates(loo_data, pipeline_run):
    model, _ = pipeline_run
    users = np.arange(40)
    items, _ = model.recommend(users, 30)
    shuffled = np.random.default_rng(0).permuted(items, axis=1)
    shuffled[:, 25:] = -1  # shorter lists, padded
    ordered = model.rank_lists(users, shuffled)
    assert set(model.latency) == {"retrieve", "features", "fusion"}
    candidates, outputs = model.retrieve(users, model.history[users], None)
    features = model.features(users, candidates, outputs)
    fused = model.fusion.predict(features.reshape(-1, features.shape[2])).reshape(candidates.shape)
    warm = ~model.stats.cold[items].any(axis=1)
    assert warm.mean() > 0.8
    for row in np.flatnonzero(warm):  # the same features (union rank included), so the fusion's own scores
        score = dict(zip(candidates[row].tolist(), fused[row].tolist()))
        assert sorted(ordered[row, :25].tolist()) == sorted(shuffled[row, :25].tolist())
        assert (np.diff([score[item] for item in ordered[row, :25]]) <= 0).all() and (ordered[row, 25:] == -1).all()


def test_rerank_command_takes_a_pipeline_run(pipeline_run, loo_data, ease_run, tmp_path, small_loo_split):
    from typer.testing import CliRunner

    from pairrank.cli import app
    from pairrank.experiments.recommending import recommend_for_test

    _, run = pipeline_run
    recs = recommend_for_test(load_model(ease_run), loo_data, k=20).astype({"user_id": str, "item_id": str})
    recs.to_csv(tmp_path / "ease.csv", index=False)
    args = ["rerank", "--judge", run, "--split", small_loo_split, "--recs", tmp_path / "ease.csv", "--top", 8]
    runner = CliRunner()
    result = runner.invoke(app, [str(a) for a in [*args, "--out", tmp_path / "fused.csv"]])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "fused.csv", dtype={"user_id": str, "item_id": str})
    moved = 0
    for user, group in out.groupby("user_id"):
        original = recs[recs["user_id"] == user].sort_values("rank")["item_id"].tolist()
        reranked = group.sort_values("rank")["item_id"].tolist()
        assert set(reranked[:8]) == set(original[:8]) and reranked[8:] == original[8:]
        moved += reranked[:8] != original[:8]
    assert moved > out["user_id"].nunique() / 2  # the fusion is not EASE's order
    duo = runner.invoke(app, [str(a) for a in [*args, "--model", "duo", "--out", tmp_path / "x.csv"]])
    assert duo.exit_code == 2 and "judge = 'none'" in duo.output


def test_cold_fusion_learns_from_items_withheld_from_training(loo_data, pipeline_run):
    model, _ = pipeline_run
    assert model.report["cold_fusion"]["learned_on"] == "10% of the items, withheld"
    features, labels, sizes, recall = model.withheld_rows(loo_data.train(), loo_data.valid())
    popularity = features[:, feature_names(["textknn"]).index("popularity")]
    assert not popularity.any()  # every candidate is a withheld item, unseen by the refit retrievers
    assert labels.sum() > len(sizes) > 20 and len(labels) == sizes.sum()
    assert 0 < np.mean(recall["textknn"]) <= np.mean(recall["union"]) <= 1


def test_pipeline_ranks_new_items_from_their_text(small_cold_split):
    from pairrank.data.split_data import SplitData
    from pairrank.data.split_io import Split

    data = SplitData.from_split(Split.read(small_cold_split))
    model, _ = train_model(data, "pipeline", FAST)
    cold = data.items.index(data.split.candidates.astype(str))
    items, _ = model.recommend(np.arange(len(data.users)), 10, candidates=cold)
    assert np.isin(items[items >= 0], cold).all()
    assert (items >= 0).all()  # retrieval searched among the new items, so every list is full
    assert len(np.unique(items)) > 5 * items.shape[1]  # lists follow each user's history, not one global order


def test_cold_candidates_rank_below_warm_ones_and_ties_follow_the_candidate_order():
    scores = np.array([[2.0, 5.0, 2.0, 1.0], [0.5, 0.5, 0.5, 0.5]], dtype=np.float32)
    is_cold = np.array([[False, True, False, True], [True, True, True, True]])
    shifted = _below_warm(scores, is_cold)
    assert shifted[0, 1] < 2.0 and shifted[0, 3] < shifted[0, 1]  # cold below warm, in their own order
    assert np.array_equal(shifted[1], scores[1])  # only cold items: nothing to move below
    distinct = _distinct(np.array([[1.0, 3.0, 1.0, 1.0 + 1e-3, 3.0]], dtype=np.float32))
    assert np.argsort(-distinct[0], kind="stable").tolist() == [1, 4, 3, 0, 2]
    assert len(np.unique(distinct)) == 5


def test_the_shipped_default_config_is_the_default():
    import tomllib
    from importlib.resources import files

    shipped = tomllib.loads(files("pairrank.pipeline").joinpath("default.toml").read_text())
    assert Pipeline(shipped).config == Pipeline().config
    assert set(shipped) == {f for f in Pipeline().config.__dataclass_fields__}


def test_attribute_vectors_weigh_rare_attributes_and_ignore_universal_ones():
    vectors = attribute_vectors(["Tools|Saws", "tools|Drills", "Tools|saws|Blades", "Tools", ""], 5)
    similarity = (vectors @ vectors.T).toarray()
    assert similarity[0, 2] > 0.5  # "saws" is shared (case-insensitively) and rare
    assert 0 < similarity[0, 1] < 0.1  # "tools" is on 4 of 5 items: it weighs little
    assert np.allclose(np.diag(similarity)[:4], 1) and not similarity[4].any()
    everywhere = attribute_vectors(["Tools|Saws", "Tools"], 2)
    assert not everywhere[1].toarray().any()  # an attribute every item has weighs nothing
    assert attribute_vectors(None, 3).shape == (3, 0)


def test_pipeline_fusion_reads_genre_overlap(pipeline_run):
    model, _ = pipeline_run
    names = model.fusion.feature_names
    assert {"attribute_max", "attribute_mean"} <= set(names)
    users = np.arange(50)
    features = model.features(users, *model.retrieve(users, model.history[users], None))
    overlap = features[..., names.index("attribute_max")]
    assert overlap.max() <= 1 + 1e-5 and (overlap > 0).mean() > 0.5  # most candidates share a genre or tag


def test_attribute_mask_allows_and_denies_case_insensitively():
    attributes = ["Drama|Crime", "comedy", "", "Comedy|Drama"]
    assert attribute_mask(attributes, ["drama"], []).tolist() == [True, False, False, True]
    assert attribute_mask(attributes, [], ["DRAMA"]).tolist() == [False, True, True, False]
    assert attribute_mask(attributes, ["comedy"], ["drama"]).tolist() == [False, True, False, False]
    assert attribute_mask(None, [], []) is None
    with pytest.raises(ValueError, match="attributes"):
        attribute_mask(None, ["drama"], [])


def test_mmr_keeps_the_ranking_at_one_and_skips_near_duplicates_below():
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    items, scores = np.array([[0, 1, 2, -1]]), np.array([[3.0, 2.0, 1.0, -np.inf]])
    assert mmr(items, scores, vectors, 1.0, 3)[0].tolist() == [[0, 1, 2]]
    picked, picked_scores = mmr(items, scores, vectors, 0.5, 3)
    assert picked.tolist() == [[0, 2, 1]] and picked_scores.tolist() == [[3.0, 1.0, 2.0]]


def test_pipeline_post_processing_denies_attributes_and_diversifies(pipeline_run):
    model, _ = pipeline_run
    users = np.arange(50)

    def with_options(**options):
        changed = copy.copy(model)
        changed.config = replace_options(model.config, options)
        return changed.recommend(users, 10)[0]

    changed = copy.copy(model)
    for genre in ("drama", "comedy"):  # the same model, other lists: its cached item mask follows them
        changed.config = replace_options(model.config, {"deny_attributes": [genre]})
        denied = changed.recommend(users, 10)[0]
        assert not any(genre in model.item_attributes[i].lower().split("|") for i in denied[denied >= 0])
    vectors = model.stats.text_vectors

    def mean_similarity(lists: np.ndarray) -> float:
        return float(np.mean([(vectors[row] @ vectors[row].T)[np.triu_indices(10, 1)].mean() for row in lists]))

    plain, diverse = with_options(), with_options(mmr_lambda=0.5)
    assert mean_similarity(diverse) < mean_similarity(plain)
    assert (plain[:, 0] == diverse[:, 0]).all()  # the best item is always picked first


def test_pipeline_with_judges_reranks_the_fused_top_and_reloads(loo_data, tmp_path_factory):
    judge = {"layers": 2, "max_pairs": 32, "valid_users": 10, "top": 10, "duo_top": 3, "backend": "torch"}
    options = {"retrievers": ["ease", "textknn"], "judge": "duo", "judge_options": judge}
    model, folder = final_run(tmp_path_factory, loo_data, "pipeline", options)
    users = np.arange(20)
    items, _ = model.recommend(users, 15)
    assert set(model.latency) >= {"fusion", "judge"}
    fused, _ = with_fusion_only(model).recommend(users, 15)
    for row in range(len(users)):  # the judges re-order the fused top 10; below it the fusion's order stays
        assert set(items[row, :10]) == set(fused[row, :10]) and (items[row, 10:] == fused[row, 10:]).all()
        judged = model.reranker.rerank(model.user_history(users[row]), fused[row, :10], stage="duo")
        assert (items[row, :10] == judged).all()
    again, _ = load_model(folder).recommend(users, 15)
    assert np.array_equal(items, again)
    blend = model.report["judge_blend"]  # chosen again against the fused order, which the judges re-rank
    assert (blend["mono_alpha"], blend["duo_alpha"]) == (
        model.reranker.settings.mono_alpha,
        model.reranker.settings.duo_alpha,
    )
    assert 0 < blend["valid_users"] <= judge["valid_users"]


def test_judge_blend_ranks_each_user_by_a_fusion_that_never_saw_the_users_labels(loo_data, monkeypatch):
    model = Pipeline({**FAST, "judge": "none"}).fit(loo_data.train(), loo_data.valid())
    labelled = model._fit_fusion(loo_data.train(), loo_data.valid())
    fitted_groups = []
    real_fit = Fusion.fit

    def recording_fit(features, labels, sizes, *args, **options):
        fitted_groups.append(len(sizes))
        assert len(features) == len(labels) == sizes.sum()
        return real_fit(features, labels, sizes, *args, **options)

    monkeypatch.setattr(Fusion, "fit", recording_fit)
    users, lists, relevant = fused_validation_lists(model, loo_data.valid(), labelled, top=20, seed=0)
    assert len(fitted_groups) == FOLDS and sum(fitted_groups) == (FOLDS - 1) * len(labelled.sizes)
    truth = loo_data.valid().matrix
    assert len(users) > 0 and all(hits.any() for hits in relevant)
    for user, items, hits in zip(users, lists, relevant):
        assert len(items) == 20
        assert (hits == np.isin(items, truth.indices[truth.indptr[user] : truth.indptr[user + 1]])).all()


def with_fusion_only(model: Pipeline) -> Pipeline:
    changed = copy.copy(model)
    changed.config, changed.reranker = replace_options(model.config, {"judge": "none"}), None
    return changed


def test_the_service_serves_a_pipeline_run_and_leaves_out_stored_events(pipeline_run, tmp_path):
    from pairrank.serve.events import Event, EventStore
    from pairrank.serve.service import RankingService, Request

    _, run = pipeline_run
    service = RankingService(run, EventStore(tmp_path / "events.sqlite"))
    before = [scored.item_id for scored in service.recommend(Request(user_id="1"), 5)]
    service.add_events([Event("1", before[0])])
    after = [scored.item_id for scored in service.recommend(Request(user_id="1"), 5)]
    assert after[:4] == before[1:] and before[0] not in after  # the pipeline reads only its trained history
