-- Scenario (b): a primary-key lookup on bench_items (100 000 rows, filled by bench/run), the id
-- drawn uniformly per transaction and sent as a bind parameter (pgbench -M extended), as in the
-- coredb request {"sql":"SELECT id, name FROM bench_items WHERE id = $1","params":[<id>]}.
\set id random(1, 100000)
SELECT id, name FROM bench_items WHERE id = :id;
