"""CSI, CSAT, NPS and gaps, from summed daily facts (exact, never rounded)."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from psycopg_pool import ConnectionPool

from csm.projections.query import Slice, fetch, period_sql, rate
from csm.projections.satisfaction.projection import MEASURES

FILTERABLE = {"department_id", "channel", "survey_id", "tier", "dimension"}
EXCLUDED_FROM_CSI = "recommendation"


def dimension_stats(n: int, total: int, total_sq: int) -> tuple[float, float | None]:
    """Mean and sample variance (n − 1) of item scores, from exact integer sums."""
    mean = total / n
    variance = (n * total_sq - total * total) / (n * (n - 1)) if n >= 2 else None
    return mean, variance


def figures(per_dimension: dict[str, dict[str, int]], weights: dict[str, float]) -> dict[str, Any]:
    """CSI, its 95% interval, CSAT, NPS, gaps and per-dimension means of one slice."""
    dims, terms, ci_terms, ci_ok = {}, [], [], True
    for name, m in sorted(per_dimension.items()):
        if not m["answers"]:
            continue
        mean, variance = dimension_stats(m["answers"], m["score_sum"], m["score_sumsq"])
        dims[name] = {"mean": mean, "n": m["answers"]}
        if name != EXCLUDED_FROM_CSI:
            w = float(weights.get(name, 1.0))
            terms.append((w, mean))
            ci_terms.append((w, variance, m["answers"]))
            ci_ok = ci_ok and variance is not None
    total_w = sum(w for w, _ in terms)
    csi = sum(w * mean for w, mean in terms) / total_w if total_w else None
    ci = None
    if csi is not None and ci_ok:
        half = 1.96 * math.sqrt(sum((w / total_w) ** 2 * v / n for w, v, n in ci_terms))
        ci = [csi - half, csi + half]
    s = {k: sum(m[k] for m in per_dimension.values()) for k in MEASURES}
    nps = rate(100 * (s["nps_promoters"] - s["nps_detractors"]), s["nps_n"])
    return {"csi": csi, "csi_ci95": ci, "csat": rate(100 * s["likert_top2"], s["likert_n"]),
            "nps": nps, "nps_promoters": s["nps_promoters"],
            "nps_passives": s["nps_n"] - s["nps_promoters"] - s["nps_detractors"],
            "nps_detractors": s["nps_detractors"], "expectation_gap": rate(s["expectation_gap_sum"], s["expectation_n"]),
            "competitor_gap": rate(s["competitor_gap_sum"], s["competitor_n"]),
            "answers": s["answers"], "dimensions": dims}


def satisfaction(pool: ConnectionPool, q: Slice, weights: dict[str, float]) -> list[dict[str, Any]]:
    groups = q.groups(FILTERABLE)
    where, params = q.where("day", FILTERABLE)
    cols = "".join(f'"{g}", ' for g in groups)
    sums = ", ".join(f"sum({m})::bigint AS {m}" for m in MEASURES)
    rows = fetch(pool, f"""
        SELECT {period_sql('day')} AS period_start, {cols}dimension, {sums}
        FROM "{q.schema}".satisfaction_facts WHERE {where}
        GROUP BY 1, {cols}dimension ORDER BY 1, {cols}dimension""", params)
    slices: dict[tuple, dict[str, dict[str, int]]] = defaultdict(dict)
    dimension_responses: dict[tuple, int] = defaultdict(int)
    for r in rows:
        key = (r["period_start"], *(r[g] for g in groups))
        slices[key][r["dimension"]] = r
        dimension_responses[key] += r["responses"]
    responses = dimension_responses if ("dimension" in groups or "dimension" in q.filters) \
        else _responses(pool, q, groups)
    out = []
    for key, per_dimension in slices.items():
        row = {"period_start": key[0].isoformat(), **dict(zip(groups, key[1:], strict=True))}
        row["responses"] = responses.get(key, 0)
        row.update(figures(per_dimension, weights))
        out.append(row)
    return out


def _responses(pool: ConnectionPool, q: Slice, groups: list[str]) -> dict[tuple, int]:
    allowed = FILTERABLE - {"dimension"}
    where, params = q.where("day", allowed)
    cols = "".join(f', "{g}"' for g in groups)
    rows = fetch(pool, f"""SELECT {period_sql('day')} AS period_start{cols}, count(*) AS n
        FROM "{q.schema}".survey_responses WHERE {where} GROUP BY 1{cols}""", params)
    return {(r["period_start"], *(r[g] for g in groups)): r["n"] for r in rows}
