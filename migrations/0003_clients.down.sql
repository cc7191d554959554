DROP TABLE IF EXISTS "coredb_clients";
