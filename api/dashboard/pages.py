"""The dashboard's pages: sign-in, the overview, a department's ledger, a stream's events."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from csm.api.dashboard import panels
from csm.api.dashboard.figures import Scope
from csm.api.dashboard.html import esc, page, section, table

BASE = "/dashboard"


def _query(scope: Scope, **extra: str | None) -> str:
    params = {"period": scope.label, "department_id": scope.department_id, **extra}
    return urlencode({k: v for k, v in params.items() if v})


def ledger_href(scope: Scope, department_id: str) -> str:
    return f"{BASE}/departments/{quote(department_id, safe='')}/ledger?{_query(scope)}"


def event_href(event_id: str) -> str:
    stream, _, version = event_id.rpartition("@")
    return f"{BASE}/streams/{quote(stream, safe='')}?version={version}#v{version}"


def _header(scope: Scope, departments: list[str], title: str) -> str:
    options = "".join(f'<option value="{esc(d)}"{" selected" if d == scope.department_id else ""}>'
                      f"{esc(d)}</option>" for d in departments)
    return (f'<h1><a href="{BASE}?{_query(scope)}">csm</a> · {esc(title)}</h1>'
            f'<a href="{BASE}/report?{_query(scope)}">monthly report</a>'
            f'<form method="get" action="{BASE}"><label>month <input type="month" name="period" '
            f'value="{scope.label}"></label><label>department <select name="department_id">'
            f'<option value="">all</option>{options}</select></label>'
            '<button type="submit">show</button></form>'
            f'<form method="post" action="{BASE}/logout"><button type="submit">sign out'
            "</button></form>")


def sign_in(message: str = "") -> str:
    note = f'<p class="bad" data-message>{esc(message)}</p>' if message else ""
    form = (f'{note}<form method="post" action="{BASE}/login"><label>API key '
            '<input type="password" name="key" autocomplete="current-password" autofocus '
            'required></label> <button type="submit">sign in</button></form>'
            '<p class="note">A key of role manager, auditor or admin. It is kept in a cookie '
            "of this browser until you sign out.</p>")
    return page("csm · sign in", "<h1>csm dashboard</h1>",
                section("Sign in", form, name="sign-in"))


def failure(message: str) -> str:
    return page("csm · not shown", f'<h1><a href="{BASE}">csm</a></h1>',
                section("Not shown", f'<p class="bad" data-message>{esc(message)}</p>',
                        name="failure"))


def overview(figures: dict[str, Any]) -> str:
    scope: Scope = figures["scope"]
    who = scope.department_id or "all departments"
    departments = sorted(r["department_id"] for r in figures["scores"])
    return page(f"csm · {who} · {scope.label}",
                _header(scope, departments, f"{who}, {scope.label}"),
                panels.overview(figures, lambda d: ledger_href(scope, d)))


def ledger(scope: Scope, department_id: str, lines: list[dict[str, Any]]) -> str:
    rows = [[esc(line["occurred_at"]), esc(line["rule"]), esc(line["points"]),
             esc(line["policy_version"]),
             f'<a href="{esc(event_href(line["event_id"]))}">{esc(line["event_id"])}</a>']
            for line in lines]
    total = sum(line["points"] for line in lines)
    content = (f'<p data-figure="ledger-total" data-value="{total}">{len(lines)} lines, '
               f"{total} points</p>" + table(
                   ["occurred at", "rule", "points", "policy", "event"], rows, name="ledger",
                   numeric={2, 3}))
    return page(f"csm · ledger of {department_id} · {scope.label}",
                _header(scope, [], f"ledger of {department_id}, {scope.label}"),
                section(f"Ledger lines of {department_id} in {scope.label}", content,
                        name="ledger", wide=True))


def stream(scope: Scope, stream_id: str, events: list[dict[str, Any]] | None,
           version: int | None, refusal: str = "") -> str:
    if events is None:
        body = f'<p class="bad" data-message>{esc(refusal)}</p>'
    else:
        body = "".join(_event(e, e["version"] == version) for e in events)
    return page(f"csm · {stream_id}", _header(scope, [], f"events of {stream_id}"),
                section(f"Events of {stream_id}", body, name="events", wide=True))


def _event(event: dict[str, Any], chosen: bool) -> str:
    mark = ' data-chosen="true" style="outline:2px solid #2563eb"' if chosen else ""
    data = json.dumps(event.get("data", event), indent=2, ensure_ascii=False, default=str)
    return (f'<article id="v{event["version"]}" data-event="{esc(event.get("event_id", ""))}"'
            f'{mark}><h3>{esc(event["version"])} · {esc(event["type"])} · position '
            f'{esc(event["position"])}</h3><p class="note">occurred {esc(event.get("occurred_at"))}'
            f", recorded {esc(event.get('recorded_at'))}</p><pre>{esc(data)}</pre></article>")
