-- Undoes 0001_platform_schema.up.sql: every table, index, constraint and trigger it created
-- (dropping a table drops its indexes, constraints and triggers), then the trigger function.
-- Extensions stay: they may predate this migration (scripts/devstack creates them as superuser)
-- and other objects may use them.
DROP TABLE "usage_logs";
DROP TABLE "documentation_chunks";
DROP TABLE "library_versions";
DROP TABLE "api_keys";
DROP TABLE "oauth_tokens";
DROP TABLE "libraries";
DROP TABLE "users";
DROP FUNCTION "coredb_set_updated_at"();
