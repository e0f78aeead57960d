"""On-demand expressions: a SQL expression in a portable subset, checked and typed once (check.py), then
compiled to each warehouse's SQL (to_sql.py) and evaluated in process for serving (evaluate.py), with one
meaning on every side (docs/concepts/on-demand-features.md)."""
