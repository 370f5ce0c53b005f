"""The report and the comparison with the paper, built from a summary written by evaluate()."""

import csv

import numpy as np
import pytest

from lib.core.atomic import write_text_atomic
from lib.evaluation.evaluate import evaluate
from lib.evaluation.paper import compare_with_paper
from lib.evaluation.report import render_report

SEGS = ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7")


@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paper")
    rng = np.random.default_rng(5)
    with (
        open(tmp / "p.csv", "w", newline="") as fp,
        open(tmp / "r.csv", "w", newline="") as fr,
        open(tmp / "c.csv", "w", newline="") as fc,
    ):
        wp, wr, wc = csv.writer(fp), csv.writer(fr), csv.writer(fc)
        wp.writerow(["patient_id", "segment", "probability", "split"])
        wr.writerow(["patient_id", "segment", "compression"])
        wc.writerow(["reader", "patient_id", "segment", "call"])
        for i in range(20):
            split = "internal test" if i < 10 else "external test"
            for seg in SEGS:
                y = int(rng.random() < 0.5)
                wp.writerow([f"P{i}", seg, round(float(np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)), 3), split])
                wr.writerow([f"P{i}", seg, y])
                if i < 10:
                    wc.writerow(["Dr <B>", f"P{i}", seg, y if rng.random() < 0.7 else 1 - y])
                    wc.writerow(["Dr A", f"P{i}", seg, y if rng.random() < 0.7 else 1 - y])
    return evaluate(
        tmp / "p.csv", tmp / "r.csv", tmp / "out", readers_csv=tmp / "c.csv", n_bootstrap=50, progress=False
    )


def test_paper_rows_pair_published_and_our_numbers(summary):
    rows = {(r["who"], r["metric"]): r for r in compare_with_paper(summary)}
    internal = summary["test_sets"]["internal test"]["units"]["segment"]["metrics"]
    external = summary["test_sets"]["external test"]["units"]["segment"]["metrics"]
    assert rows[("model, internal test", "accuracy")]["paper"] == 0.9467
    assert rows[("model, internal test", "accuracy")]["ours"] == internal["accuracy"]["value"]
    assert rows[("model, internal test", "kappa")]["paper"] == 0.893
    assert rows[("model, external test", "auc")]["ours"] == external["auc"]["value"]
    assert rows[("model, external test", "auc")]["paper"] == 0.9868
    # Readers in sorted order stand for surgeon 1 and 2 unless named.
    s1 = summary["test_sets"]["internal test"]["readers"]["Dr <B>"]["vs_reference"]["metrics"]
    assert rows[("surgeon 1", "accuracy")]["ours"] == s1["accuracy"]["value"]
    assert rows[("surgeon 2", "kappa")]["paper"] == 0.422
    named = {(r["who"], r["metric"]): r for r in compare_with_paper(summary, reader_names=["Dr A"])}
    assert named[("surgeon 1", "kappa")]["source"].startswith("reader 'Dr A'")
    assert named[("surgeon 2", "kappa")]["ours"] is None


def test_report_escapes_names_and_lists_both_test_sets(summary):
    html = render_report(summary)
    assert "Dr &lt;B&gt;" in html and "Dr <B>" not in html
    assert "Test set: internal test" in html and "Test set: external test" in html
    assert html.count("class='stard'") == 2
    assert "Comparison with the paper" in html and "0.9911" in html


def test_atomic_write_leaves_only_the_file(tmp_path):
    write_text_atomic("x", tmp_path / "a.html")
    write_text_atomic("y", tmp_path / "a.html")
    assert [p.name for p in tmp_path.iterdir()] == ["a.html"]
    assert (tmp_path / "a.html").read_text() == "y"
