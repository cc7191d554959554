-- Scenario (a): the round trip alone. The same statement as the coredb request
-- {"sql":"SELECT 1"} (bench/run sends it with pgbench -M extended, like the service does).
SELECT 1;
