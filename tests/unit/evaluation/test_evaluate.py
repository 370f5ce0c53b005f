"""evaluate() end to end on small CSVs written here: files, sections, and values equal to direct computations."""

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, roc_auc_score

from apps.cli.benchmarks.evaluation import simulate_csvs
from lib.evaluation.evaluate import evaluate
from lib.evaluation.stats import auc_variance, select_threshold

SEGS = ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7")


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _data(n_patients=12, seed=0, splits=None):
    """Rows (patient, segment, y, probability, split) of a decent but imperfect model."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_patients):
        split = splits[i % len(splits)] if splits else None
        for seg in SEGS:
            y = int(rng.random() < 0.5)
            p = float(np.clip(rng.normal(0.7 if y else 0.3, 0.2), 0, 1).round(3))
            rows.append((f"P{i:02d}", seg, y, p, split))
    return rows


def _files(tmp_path, rows, readers=None):
    with_split = rows[0][4] is not None
    pred = _write(
        tmp_path / "pred.csv",
        ["patient_id", "segment", "probability"] + (["split"] if with_split else []),
        [(r[0], r[1], r[3]) + ((r[4],) if with_split else ()) for r in rows],
    )
    ref = _write(tmp_path / "ref.csv", ["patient_id", "segment", "compression"], [(r[0], r[1], r[2]) for r in rows])
    rd = _write(tmp_path / "readers.csv", ["reader", "patient_id", "segment", "call"], readers) if readers else None
    return pred, ref, rd


def _no_nan(text):
    def bad(c):
        raise ValueError(f"non-finite constant {c} in JSON")

    return json.loads(text, parse_constant=bad)


def test_end_to_end_values_equal_direct_computation(tmp_path):
    rows = _data()
    calls = [("A", r[0], r[1], r[2] if k % 3 else 1 - r[2]) for k, r in enumerate(rows) if k % 7]
    pred, ref, rd = _files(tmp_path, rows, calls)
    summary = evaluate(pred, ref, tmp_path / "out", readers_csv=rd, n_bootstrap=200, progress=False)
    on_disk = _no_nan((tmp_path / "out" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    y = np.array([r[2] for r in rows])
    s = np.array([r[3] for r in rows])
    seg = summary["test_sets"]["test"]["units"]["segment"]
    assert seg["metrics"]["accuracy"]["value"] == pytest.approx(accuracy_score(y, s >= 0.5))
    assert seg["metrics"]["auc"]["value"] == pytest.approx(roc_auc_score(y, s))
    assert seg["metrics"]["kappa"]["value"] == pytest.approx(cohen_kappa_score(y, s >= 0.5))
    lo, hi = seg["metrics"]["auc"]["ci"]
    assert seg["metrics"]["auc"]["ci_delong"] == pytest.approx(auc_variance(y, s)["ci"])
    assert lo < seg["metrics"]["auc"]["value"] < hi
    lvl = summary["test_sets"]["test"]["units"]["level"]["C4/5"]
    m = np.array([r[1] == "C4/5" for r in rows])
    assert lvl["metrics"]["auc"]["value"] == pytest.approx(roc_auc_score(y[m], s[m]))
    y_pat = y.reshape(-1, 5).max(axis=1)
    s_pat = s.reshape(-1, 5).max(axis=1)
    pat = summary["test_sets"]["test"]["units"]["patient"]
    assert pat["metrics"]["auc"]["value"] == pytest.approx(roc_auc_score(y_pat, s_pat))
    assert pat["n"] == 12
    reader = summary["test_sets"]["test"]["readers"]["A"]
    ry = np.array([rows[k][2] for k in range(len(rows)) if k % 7])
    rc = np.array([c[3] for c in calls])
    assert reader["segments_read"] == len(calls)
    assert reader["vs_reference"]["metrics"]["accuracy"]["value"] == pytest.approx(np.mean(ry == rc))
    model_ok = (np.array([rows[k][3] for k in range(len(rows)) if k % 7]) >= 0.5) == ry
    assert reader["vs_model"]["accuracy"]["b"] == int(np.sum(model_ok & (rc != ry)))
    assert reader["vs_model"]["accuracy"]["c"] == int(np.sum(~model_ok & (rc == ry)))


def test_report_has_every_section_and_is_self_contained(tmp_path):
    pred, ref, rd = _files(tmp_path, _data(), [("A", "P00", "C2/3", 1), ("B", "P01", "C3/4", 0)])
    evaluate(pred, ref, tmp_path, readers_csv=rd, n_bootstrap=50, progress=False)
    html = (tmp_path / "report.html").read_text()
    for section in ("metrics", "stard", "figures", "kappa", "readers", "gallery", "paper", "undefined"):
        assert f"class='{section}'" in html
    assert html.count("data:image/png;base64,") >= 4  # ROC, 2 confusion matrices, calibration
    assert "http://" not in html and "https://" not in html


def test_splits_threshold_from_validation_and_not_evaluable(tmp_path):
    rows = _data(n_patients=15, splits=["validation", "internal", "external"])
    rows[5] = rows[5][:3] + ("",) + rows[5][4:]  # P01 C2/3 (internal): not evaluable
    pred, ref, _ = _files(tmp_path, rows)
    summary = evaluate(pred, ref, tmp_path, threshold="youden", n_bootstrap=50, progress=False)
    assert sorted(summary["test_sets"]) == ["external", "internal"]
    val = [r for r in rows if r[4] == "validation"]
    expected = select_threshold([r[2] for r in val], [r[3] for r in val], "youden")["threshold"]
    assert summary["threshold"]["value"] == expected
    assert "Youden" in summary["threshold"]["source"]
    internal = summary["test_sets"]["internal"]
    assert internal["counts"]["not_evaluable_segments"] == 1 and internal["not_evaluable"] == ["P01:C2/3"]
    assert internal["counts"]["evaluable_segments"] == 24


def test_single_class_test_set_names_undefined_metrics(tmp_path):
    rows = [(p, s, 0, pr, None) for p, s, _, pr, _ in _data(n_patients=4)]
    pred, ref, _ = _files(tmp_path, rows)
    summary = evaluate(pred, ref, tmp_path, n_bootstrap=50, progress=False)
    m = summary["test_sets"]["test"]["units"]["segment"]["metrics"]
    assert m["sensitivity"] == {"value": None, "undefined": "no positive segments"}
    assert m["auc"] == {"value": None, "undefined": "no positive segments"}
    assert m["specificity"]["value"] is not None
    _no_nan((tmp_path / "summary.json").read_text())
    assert "no positive segments" in (tmp_path / "report.html").read_text()


def test_threshold_from_model_card_and_seeded_reproducibility(tmp_path):
    pred, ref, _ = _files(tmp_path, _data())
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"threshold": 0.62}))
    a = evaluate(pred, ref, tmp_path / "a", threshold=card, n_bootstrap=100, seed=3, progress=False)
    b = evaluate(pred, ref, tmp_path / "b", threshold=str(card), n_bootstrap=100, seed=3, progress=False)
    c = evaluate(pred, ref, tmp_path / "c", threshold=card, n_bootstrap=100, seed=4, progress=False)
    assert a["threshold"] == {"value": 0.62, "source": "model card card.json"}
    ci = lambda s: s["test_sets"]["test"]["units"]["segment"]["metrics"]["auc"]["ci"]  # noqa: E731
    assert ci(a) == ci(b) and ci(a) != ci(c)


def test_gallery_embeds_overlays_when_given(tmp_path):
    pred, ref, _ = _files(tmp_path, _data())
    s = evaluate(pred, ref, tmp_path / "plain", n_bootstrap=20, progress=False)
    first = s["test_sets"]["test"]["confident_errors"][0]
    png = tmp_path / "overlay.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    evaluate(pred, ref, tmp_path / "ov", n_bootstrap=20, progress=False, overlays={first["id"]: png})
    plain = (tmp_path / "plain" / "report.html").read_text()
    with_ov = (tmp_path / "ov" / "report.html").read_text()
    assert f"<figcaption>{first['id']}" in with_ov and "<figcaption>" not in plain


def test_benchmark_data_evaluates_quickly(tmp_path):
    paths = simulate_csvs(tmp_path, n_patients=20)
    s = evaluate(
        paths["predictions"],
        paths["reference"],
        tmp_path / "o",
        readers_csv=paths["readers"],
        n_bootstrap=100,
        progress=False,
    )
    assert set(s["test_sets"]["test"]["readers"]) == {"surgeon 1", "surgeon 2"}
    assert s["test_sets"]["test"]["counts"]["segments"] == 100


def test_reader_kang_grades_unread_segments_and_progress_bar(tmp_path, capsys):
    rows = _data(n_patients=10, seed=2)
    rng = np.random.default_rng(1)
    ref_kang = [int(rng.integers(1, 4)) if r[2] else int(rng.integers(0, 2)) for r in rows]
    rd_kang = [min(3, max(0, k + int(rng.integers(-1, 2)))) for k in ref_kang]
    pred, _, _ = _files(tmp_path, rows)
    ref = _write(
        tmp_path / "ref.csv",
        ["patient_id", "segment", "compression", "kang"],
        [(r[0], r[1], r[2], k) for r, k in zip(rows, ref_kang)],
    )
    calls = [("A", r[0], r[1], "" if i == 0 else int(k > 0), k) for i, (r, k) in enumerate(zip(rows, rd_kang))]
    rd = _write(tmp_path / "rd.csv", ["reader", "patient_id", "segment", "call", "kang"], calls)
    s = evaluate(pred, ref, tmp_path / "o", readers_csv=rd, n_bootstrap=40, progress=True)
    reader = s["test_sets"]["test"]["readers"]["A"]
    assert (reader["segments_read"], reader["segments_not_read"]) == (49, 1)
    for w in ("linear", "quadratic"):
        expected = cohen_kappa_score(rd_kang[1:], ref_kang[1:], weights=w)
        assert reader["kang_kappa"][w]["value"] == pytest.approx(expected, abs=1e-12)
    assert "bootstrap test" in capsys.readouterr().err


def test_test_set_with_no_evaluable_segment(tmp_path):
    rows = [r[:3] + ("",) + r[4:] for r in _data(n_patients=3)]
    pred, ref, _ = _files(tmp_path, rows)
    s = evaluate(pred, ref, tmp_path, n_bootstrap=20, progress=False)
    ts = s["test_sets"]["test"]
    assert ts["counts"]["not_evaluable_segments"] == 15 and ts["units"]["segment"]["n"] == 0
    assert ts["units"]["segment"]["metrics"]["accuracy"] == {"value": None, "undefined": "no segments"}
    _no_nan((tmp_path / "summary.json").read_text())
