"""Self-contained HTML report of an evaluation summary (figures embedded as base64 PNG).

Sections: metrics with CIs per test set, STARD 2x2 table, ROC with reader operating points, confusion
matrices, calibration, kappa, readers, most confident errors, comparison with the paper, undefined metrics.
Everything is drawn from ``summary.json`` alone, so a report can be rebuilt without the CSVs.
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

from lib.core.atomic import write_text_atomic
from lib.evaluation.figures import calibration_figure, confusion_figure, roc_figure
from lib.evaluation.paper import compare_with_paper

log = logging.getLogger(__name__)
METRICS = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "auc", "kappa")
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #bbb;padding:3px 7px;font-size:13px}th{background:#eee}"
    ".und{color:#a33}figure{display:inline-block;margin:4px}img{max-width:100%}"
)


def _e(x) -> str:
    return html.escape(str(x))


def _cell(entry: dict | None) -> str:
    """'value (lo-hi)' for a metric entry, or its undefined reason."""
    if not entry:
        return ""
    if entry.get("value") is None:
        return f"<span class='und'>undefined: {_e(entry.get('undefined', ''))}</span>"
    ci = entry.get("ci")
    return f"{entry['value']:.4f}" + (f" ({ci[0]:.4f}&ndash;{ci[1]:.4f})" if ci else "")


def _table(header: list, rows: list) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(b64: str, alt: str) -> str:
    return f"<figure><img alt='{_e(alt)}' src='data:image/png;base64,{b64}'></figure>"


def _unit_rows(ts: dict) -> list:
    units = [("segment", ts["units"]["segment"])] + [(f"level {k}", v) for k, v in ts["units"]["level"].items()]
    units.append(("patient", ts["units"]["patient"]))
    return [
        [_e(name), str(u["n"]), str(u["positives"])] + [_cell(u["metrics"].get(m)) for m in METRICS]
        for name, u in units
    ]


def _stard(ts: dict) -> str:
    """STARD 2x2 table of the segment unit with margins."""
    c = ts["units"]["segment"]["confusion"]
    rows = [
        ["model positive", c["tp"], c["fp"], c["tp"] + c["fp"]],
        ["model negative", c["fn"], c["tn"], c["fn"] + c["tn"]],
        ["total", c["tp"] + c["fn"], c["fp"] + c["tn"], sum(c.values())],
    ]
    note = (
        f"<p>{ts['counts']['not_evaluable_segments']} segment(s) not evaluable by the model, "
        f"left out: {_e(', '.join(ts['not_evaluable'][:30]))}</p>"
        if ts["not_evaluable"]
        else ""
    )
    return _table(["", "MRI compression", "MRI no compression", "total"], [[str(x) for x in r] for r in rows]) + note


def _figures(name: str, ts: dict) -> str:
    seg, pat = ts["units"]["segment"], ts["units"]["patient"]
    curves = {
        f"{k} (AUC {_cell(u['metrics']['auc']).split(' ')[0]})": u["roc"]
        for k, u in (("segments", seg), ("patients", pat))
        if "roc" in u
    }
    points = {}
    for reader, r in ts.get("readers", {}).items():
        m = r["vs_reference"]["metrics"]
        if m["sensitivity"]["value"] is not None and m["specificity"]["value"] is not None:
            points[reader] = (1 - m["specificity"]["value"], m["sensitivity"]["value"])
    parts = (
        [_img(roc_figure(curves, points, f"ROC, {name}"), "ROC curves")]
        if curves
        else ["<p>No ROC curve: the test set has a single class.</p>"]
    )
    parts += [
        _img(confusion_figure(u["confusion"], f"{k}, {name}"), f"confusion matrix {k}")
        for k, u in (("segments", seg), ("patients", pat))
    ]
    if ts.get("calibration"):
        cal = ts["calibration"]
        parts.append(_img(calibration_figure(cal["bins"], cal["brier"], f"calibration, {name}"), "reliability diagram"))
        parts.append(f"<p>Brier score (segments): {cal['brier']:.4f}</p>")
    return "".join(parts)


def _kappa_rows(ts: dict) -> list:
    def row(who, k, ci_key="ci"):
        ci = k.get(ci_key)
        return [
            _e(who),
            _cell({**k, "ci": None}) if k.get("value") is None else f"{k['value']:.3f}",
            f"{ci[0]:.3f}&ndash;{ci[1]:.3f}" if ci else "",
            _e(k.get("band") or ""),
        ]

    rows = [row("model vs MRI (segments, bootstrap CI)", ts["units"]["segment"]["metrics"]["kappa"])]
    for reader, r in ts.get("readers", {}).items():
        rows.append(row(f"{reader} vs MRI (bootstrap CI)", r["vs_reference"]["metrics"]["kappa"]))
        rows.append(row(f"{reader} vs model (agreement)", r["vs_model"]["kappa_agreement"]))
        for w, k in r.get("kang_kappa", {}).items():
            rows.append(row(f"{reader} vs MRI, Kang grade, {w} weights", k))
    return rows


def _reader_rows(ts: dict) -> list:
    rows = []
    for reader, r in ts.get("readers", {}).items():
        m, vm = r["vs_reference"]["metrics"], r["vs_model"]
        p = [vm[k].get("p_value") for k in ("accuracy", "sensitivity", "specificity")]
        keys = ("accuracy", "sensitivity", "specificity")
        rows.append(
            [_e(reader), str(r["segments_read"])]
            + [_cell(m[k]) for k in keys]
            + [f"{x:.4g} ({_e(vm[k]['method'])})" if x is not None else "n/a" for x, k in zip(p, keys)]
        )
    return rows


def _gallery(ts: dict, overlays: dict | None) -> str:
    errs = ts["confident_errors"]
    if not errs:
        return "<p>No errors at this threshold.</p>"
    shown, rows = [], []
    for e in errs:
        path = (overlays or {}).get(e["id"])
        if path and Path(path).is_file():
            b64 = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            caption = f"{_e(e['id'])}: {_e(e['kind'])}, p = {e['probability']:.3f}"
            shown.append(
                f"<figure><img alt='{_e(e['id'])}' src='data:image/png;base64,{b64}'>"
                f"<figcaption>{caption}</figcaption></figure>"
            )
        else:
            if path:
                log.warning("overlay for %s not found at %s; listing it in the table", e["id"], path)
            rows.append([_e(e["id"]), _e(e["kind"]), f"{e['probability']:.4f}", str(e["reference"])])
    table = _table(["segment", "error", "probability", "MRI"], rows) if rows else ""
    return "".join(shown) + table


def _paper(summary: dict) -> str:
    rows = [
        [
            _e(r["who"]),
            _e(r["metric"]),
            f"{r['paper']:.4f}",
            _cell({"value": r["ours"], "ci": r["ours_ci"], "undefined": "not available"}),
            _e(r["source"]),
        ]
        for r in compare_with_paper(summary)
    ]
    return _table(["who", "metric", "paper", "ours (95% CI)", "ours from"], rows)


def _undefined(summary: dict) -> list:
    """Every undefined metric as 'test set / unit / metric: reason'."""
    out = []
    for name, ts in summary["test_sets"].items():
        units = {
            "segment": ts["units"]["segment"],
            "patient": ts["units"]["patient"],
            **{f"level {k}": v for k, v in ts["units"]["level"].items()},
            **{f"reader {k}": v["vs_reference"] for k, v in ts.get("readers", {}).items()},
        }
        for uname, u in units.items():
            out += [f"{name} / {uname} / {m}: {e['undefined']}" for m, e in u["metrics"].items() if e.get("undefined")]
    return out


def render_report(summary: dict, overlays: dict | None = None) -> str:
    """The report as one HTML string; ``overlays`` maps 'patient_id:segment' to an overlay PNG for the gallery."""
    thr = summary["threshold"]
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Evaluation report</title>"
        f"<style>{STYLE}</style></head><body><h1>Cord compression: evaluation report</h1>",
        f"<p>Threshold {thr['value']:.4f} ({_e(thr['source'])}). 95% CIs: {_e(summary['ci_method'])}, "
        f"{summary['n_bootstrap']} replicates, seed {summary['seed']}; Wilson intervals (clustering ignored) "
        "are in summary.json.</p>",
    ]
    for name, ts in summary["test_sets"].items():
        c = ts["counts"]
        parts += [
            f"<h2 id='set-{_e(name)}'>Test set: {_e(name)}</h2>",
            f"<p>{c['patients']} patients, {c['evaluable_segments']} evaluable segments "
            f"({c['positive_segments']} with compression on MRI).</p>",
            "<h3 class='metrics'>Metrics (95% CI)</h3>",
            _table(["unit", "n", "positive"] + list(METRICS), _unit_rows(ts)),
            "<h3 class='stard'>2x2 table (STARD), segments</h3>",
            _stard(ts),
            "<h3 class='figures'>ROC, confusion matrices, calibration</h3>",
            _figures(name, ts),
            "<h3 class='kappa'>Agreement (Cohen's kappa)</h3>",
            _table(["raters", "kappa", "95% CI", "Landis-Koch"], _kappa_rows(ts)),
        ]
        if ts.get("readers"):
            parts += [
                "<h3 class='readers'>Readers (own evaluable segments; McNemar vs model on segments both read)</h3>",
                _table(
                    [
                        "reader",
                        "segments",
                        "accuracy",
                        "sensitivity",
                        "specificity",
                        "McNemar p, accuracy",
                        "sensitivity",
                        "specificity",
                    ],
                    _reader_rows(ts),
                ),
            ]
        parts += ["<h3 class='gallery'>Most confident errors</h3>", _gallery(ts, overlays)]
    parts += ["<h2 class='paper'>Comparison with the paper</h2>", _paper(summary)]
    und = _undefined(summary)
    parts += [
        "<h2 class='undefined'>Undefined metrics</h2>",
        "<ul>" + "".join(f"<li>{_e(u)}</li>" for u in und) + "</ul>" if und else "<p>None.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(summary: dict, path, overlays: dict | None = None) -> Path:
    """Render and write ``report.html`` atomically; returns its path."""
    write_text_atomic(render_report(summary, overlays), path)
    return Path(path)
