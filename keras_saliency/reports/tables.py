"""Result tables: rows are dicts, columns are `(key, title, format)`; written as Markdown or CSV."""

import csv


def present_columns(rows, columns):
    """The columns that at least one row has a value for.

    Args:
        rows: dicts, one per row.
        columns: `(key, title, format)` tuples.

    Example:

    >>> present_columns([{"a": 1}], [("a", "A", "{}"), ("b", "B", "{}")])
    [('a', 'A', '{}')]
    """
    return [c for c in columns if any(c[0] in row for row in rows)]


def markdown_table(rows, columns):
    """A Markdown table of `rows` (cells a row lacks stay empty).

    Args:
        rows: dicts, one per row.
        columns: `(key, title, format)` tuples; `format` is a `str.format` pattern.

    Example:

    >>> print(markdown_table([{"method": "masker", "hit": 0.912}], [("method", "method", "{}"), ("hit", "hit rate", "{:.2f}")]))
    | method | hit rate |
    |---|---|
    | masker | 0.91 |
    """
    lines = ["| " + " | ".join(c[1] for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(c[2].format(row[c[0]]) if c[0] in row else "" for c in columns) + " |")
    return "\n".join(lines)


def write_csv(path, rows, columns):
    """Writes `rows` to the CSV file `path`, one column per key of `columns` (other keys are
    ignored).

    Args:
        path: the CSV file.
        rows: dicts, one per row.
        columns: `(key, title, format)` tuples; the keys are the header.

    Example:

    ```python
    write_csv("results.csv", results, [("method", "method", "{}"), ("hit", "hit rate", "{:.2f}")])
    ```
    """
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c[0] for c in columns], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
