"""Result tables: rows are dicts, columns are `(key, title, format)`; written as Markdown or CSV."""

import csv


def present_columns(rows, columns):
    """The columns that at least one row has a value for."""
    return [c for c in columns if any(c[0] in row for row in rows)]


def markdown_table(rows, columns):
    """A Markdown table of `rows` (cells a row lacks stay empty)."""
    lines = ["| " + " | ".join(c[1] for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(c[2].format(row[c[0]]) if c[0] in row else "" for c in columns) + " |")
    return "\n".join(lines)


def write_csv(path, rows, columns):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[c[0] for c in columns], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
