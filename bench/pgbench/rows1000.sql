-- Scenario (f): 1 000 rows per request, a range of ids on bench_items (100 000 rows), as in the
-- coredb request {"sql":"SELECT id, name FROM bench_items WHERE id BETWEEN $1 AND $1 + 999",
-- "params":[<id>]}: pgbench reads the whole result with libpq, coredb reads it row by row and
-- answers it as JSON.
\set id random(1, 99001)
SELECT id, name FROM bench_items WHERE id BETWEEN :id AND :id + 999;
