"""The course's four clinical tasks: their data, in rooms.

- `sources`: `splits(task, profile, seed, path)` for every task, and the evaluation sets.
- `load/`: the item types (MCQItem, TriageRecord, AppropriatenessItem, Note) and the loaders
  of the real datasets' schemas, which name file, line and field when a row is malformed.
- `generate/`: the course's own rows, written in exactly those schemas.
- `tables/`: the clinical content the generators write from, as JSON with named fields.
- `esi`: the ESI v4 algorithm, which labels every generated triage case.
- `build`: `python -m medlab.data.build` rewrites `data/` from `generate/` and `tables/`.
- `splits`, `errors`: hold-out splits without leaks; errors and skip counts.
"""
