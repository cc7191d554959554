-- Scenario (d): ten primary-key lookups on bench_items sent in one round trip (libpq pipeline mode,
-- pgbench's \startpipeline; needs -M extended), as in the coredb request
-- POST /api/v1/query/batch {"queries":[{"sql":"SELECT id, name FROM bench_items WHERE id = $1","params":[<id>]} ×10]}.
\set id1 random(1, 100000)
\set id2 random(1, 100000)
\set id3 random(1, 100000)
\set id4 random(1, 100000)
\set id5 random(1, 100000)
\set id6 random(1, 100000)
\set id7 random(1, 100000)
\set id8 random(1, 100000)
\set id9 random(1, 100000)
\set id10 random(1, 100000)
\startpipeline
SELECT id, name FROM bench_items WHERE id = :id1;
SELECT id, name FROM bench_items WHERE id = :id2;
SELECT id, name FROM bench_items WHERE id = :id3;
SELECT id, name FROM bench_items WHERE id = :id4;
SELECT id, name FROM bench_items WHERE id = :id5;
SELECT id, name FROM bench_items WHERE id = :id6;
SELECT id, name FROM bench_items WHERE id = :id7;
SELECT id, name FROM bench_items WHERE id = :id8;
SELECT id, name FROM bench_items WHERE id = :id9;
SELECT id, name FROM bench_items WHERE id = :id10;
\endpipeline
