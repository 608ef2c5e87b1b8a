"""``evaluate --history``: time-based hold-out, the metrics, baselines, bootstrap intervals."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fd_bookdata import item_ids, toy_catalogue, write_book_index

from fashion_desktop.core.index import EmbeddingIndex
from fashion_desktop.core.rec_evaluation import (
    ALL_METHODS,
    EvaluationError,
    bootstrap_interval,
    evaluate_history,
    format_table,
    intra_list_diversity,
    ranking_metrics,
    split_by_time,
)
from fashion_desktop.core.recommend import catalogue_arrays

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))
from simulate_book import catalogue_from_rows, simulate

ROWS, _ = toy_catalogue()


@pytest.fixture(scope="module")
def arrays(tmp_path_factory: pytest.TempPathFactory):
    index = EmbeddingIndex.open(write_book_index(tmp_path_factory.mktemp("eval") / "index"))
    yield catalogue_arrays(index)
    index.close()


def test_ranking_metrics_by_hand():
    assert ranking_metrics([1, 2, 3], {1, 2, 3}, k=3) == pytest.approx((1.0, 1.0, 1.0))
    assert ranking_metrics([9, 8, 7], {1}, k=3) == (0.0, 0.0, 0.0)
    recall, ndcg, ap = ranking_metrics([9, 1, 8, 2], {1, 2}, k=4)
    assert recall == 1.0
    assert ndcg == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / (1 + 1 / np.log2(3)))
    assert ap == pytest.approx((1 / 2 + 2 / 4) / 2)
    # AP@12 divides by min(|targets|, 12): 20 targets, 12 hits in 12 → 1
    assert ranking_metrics(list(range(12)), set(range(20)), k=10)[2] == pytest.approx(1.0)


def test_the_last_purchases_by_date_are_held_out(arrays):
    ids = item_ids(ROWS, articleType="Kurtas")
    purchases = [
        ("Asha", ids[4], "2024-05-05", 1),
        ("Asha", ids[0], "2024-05-01", 1),
        ("Asha", ids[1], "2024-05-02", 1),
        ("Asha", ids[2], "2024-05-03", 1),
        ("Asha", ids[3], "2024-05-04", 1),
        ("asha", ids[0], "2024-05-06", 1),  # bought again: not a target
        ("Bina", ids[0], "2024-05-01", 1),  # one purchase: nothing to hold out
        ("Asha", "not-in-the-index", "2024-05-07", 1),
    ]
    splits, training, skipped = split_by_time(arrays, purchases, holdout=0.34)
    (split,) = splits
    assert split.targets == {arrays.row_of[ids[4]]}
    assert [arrays.ids[e[0]] for e in split.train] == ids[:4]
    assert skipped == 1 and ("Bina", ids[0], "2024-05-01", 1) in training
    assert all(item != ids[4] for client, item, *_ in training if client == "Asha")
    with pytest.raises(EvaluationError, match="strictly between 0 and 1"):
        split_by_time(arrays, purchases, holdout=1.0)


def test_the_simulator_is_reproducible_and_keeps_its_promises():
    catalogue = catalogue_from_rows(ROWS)
    first = simulate(catalogue, seed=3, clients=12, min_purchases=20)
    assert first == simulate(catalogue, seed=3, clients=12, min_purchases=20)
    assert first != simulate(catalogue, seed=4, clients=12, min_purchases=20)
    per_client: dict[str, list[str]] = {}
    for client, item, day, quantity in first:
        per_client.setdefault(client, []).append(item)
        assert quantity in (1, 2) and day[:2] == "20"
    assert len(per_client) == 12
    assert all(len(items) >= 20 and len(set(items)) == len(items) for items in per_client.values())


def test_every_method_is_scored_against_the_same_clients(arrays):
    purchases = simulate(catalogue_from_rows(ROWS), seed=1, clients=40, min_purchases=20)
    evaluation = evaluate_history(arrays, purchases, k=10)
    assert set(evaluation.methods) == set(ALL_METHODS)
    assert evaluation.clients == 40 and evaluation.targets > 40
    summary = evaluation.summary()
    for method, row in summary.items():
        for metric in ("recall", "ndcg", "map"):
            values = getattr(evaluation.methods[method], metric)
            assert len(values) == 40
            cell = row[metric]
            assert 0.0 <= cell["low"] <= cell["mean"] <= cell["high"] <= 1.0
        assert 0.0 < row["coverage"] <= 1.0 and 0.0 <= row["diversity"] <= 2.0
    assert summary["hybrid"]["recall"]["mean"] > summary["random"]["recall"]["mean"]
    table = format_table(evaluation)
    assert "last-purchase" in table and "Recall@10" in table and "MAP@12" in table
    assert set(evaluation.to_json()) >= {"clients", "methods", "held_out_purchases"}


def test_bad_evaluations(arrays):
    with pytest.raises(EvaluationError, match="No client has enough purchases"):
        evaluate_history(arrays, [("Asha", ROWS[0]["id"], "2024-05-01", 1)])
    with pytest.raises(EvaluationError, match="Unknown method"):
        evaluate_history(arrays, [], methods=["magic"])


def test_bootstrap_and_diversity(arrays):
    values = np.r_[np.zeros(50), np.ones(50)]
    low, high = bootstrap_interval(values, seed=1)
    assert low < 0.5 < high and (low, high) == bootstrap_interval(values, seed=1)
    assert bootstrap_interval(np.ones(30)) == (1.0, 1.0)
    row = arrays.row_of[ROWS[0]["id"]]
    assert intra_list_diversity(arrays, [row, row]) == pytest.approx(0.0, abs=1e-6)
