-- Undoes 0002_saga_log.up.sql.
DROP TABLE "coredb_idempotency";
DROP TABLE "coredb_sagas";
