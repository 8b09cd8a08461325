"""A table of report.html that the reader sorts by clicking a column's header, without a
script.

report.html runs no script (docs/security.md), and no library sorts a table in CSS, so this
is written here: the table is written once as given and once per column sorted by it, and
a hidden radio button per copy picks the one shown; each header is the label of its
column's button. For 32 arms x 11 columns that is some 400 rows of HTML more, so it is used
for the arms table only. Each column sorts better-first: higher first for throughput and
accuracy, lower first for times, memory and loss, names A to Z; a missing value goes last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

#: At most this many copies (the given order and one per column); later columns don't sort.
MAX_COPIES = 16
ARROW = " \u25be"  # on the header of the column a copy is sorted by (a click: given order)
SORT_CSS = (".sortable>input{position:absolute;opacity:0;pointer-events:none}"
            ".sortable>table{display:none}.sortable th label{cursor:pointer}"
            ".sortable th label:hover{text-decoration:underline}"
            + "".join(f".sortable>input:nth-of-type({i}):checked~table:nth-of-type({i})"
                      "{display:table}" for i in range(1, MAX_COPIES + 1)))


def sortable_table(name: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
                   values: Sequence[Sequence[float | str | None]],
                   descending: Sequence[bool], cell: Callable[[str], str] = escape) -> str:
    """The table ``name`` (a word of ours, used in the buttons' ids), shown first as
    ``rows`` come; ``values[r][c]`` sorts column ``c`` (``descending[c]``: higher first)."""
    columns = min(len(headers), MAX_COPIES - 1)
    orders = [list(range(len(rows)))]
    for c in range(columns):
        keyed = sorted(((_key(values[r][c]), r) for r in range(len(rows))
                        if values[r][c] is not None), key=lambda t: t[0], reverse=descending[c])
        present = [r for _, r in keyed]
        orders.append(present + [r for r in range(len(rows)) if values[r][c] is None])
    out = ['<div class="sortable">']
    out += [f'<input type="radio" name="sort-{name}" id="sort-{name}-{k}" '
            f'aria-label="sort by {escape(headers[k - 1]) if k else "the given order"}"'
            f'{" checked" if k == 0 else ""}>' for k in range(len(orders))]
    for k, order in enumerate(orders):
        head = "".join(
            f'<th><label for="sort-{name}-{c + 1 if k != c + 1 else 0}" title="sort">'
            f'{escape(h)}{ARROW if k == c + 1 else ""}</label></th>' if c < columns
            else f"<th>{escape(h)}</th>" for c, h in enumerate(headers))
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in rows[r]) + "</tr>"
                       for r in order)
        out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    out.append("</div>")
    return "".join(out)


def _key(value: float | str | None) -> tuple[int, float, str]:
    if isinstance(value, (int, float)):
        return (0, float(value), "")
    return (1, 0.0, str(value).lower())
