-- Clients of the service (issue 6, API.md "Authentication and scopes"): who may call it, with
-- which scopes, quotas, PostgreSQL role and cache prefixes. Tokens are never stored: only the
-- SHA-256 of each (hex) and its visible prefix ("cdb_" + 8 characters) for identification.
-- A revoked client keeps its row (audit: who it was) with revoked_at set.
CREATE TABLE "coredb_clients" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "scopes" TEXT[] NOT NULL,
    "token_hash" TEXT NOT NULL,
    "token_prefix" TEXT NOT NULL,
    "quota_per_minute" BIGINT,
    "quota_per_day" BIGINT,
    "pg_role" TEXT,
    "cache_prefixes" TEXT[] NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "revoked_at" TIMESTAMPTZ(3),
    CONSTRAINT "coredb_clients_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "coredb_clients_token_hash_key" UNIQUE ("token_hash"),
    CONSTRAINT "coredb_clients_token_hash_check" CHECK ("token_hash" ~ '^[0-9a-f]{64}$'),
    CONSTRAINT "coredb_clients_scopes_check"
        CHECK (cardinality("scopes") > 0 AND "scopes" <@ ARRAY['read', 'write', 'admin']::TEXT[]),
    CONSTRAINT "coredb_clients_quota_check"
        CHECK (("quota_per_minute" IS NULL OR "quota_per_minute" > 0) AND ("quota_per_day" IS NULL OR "quota_per_day" > 0))
);
-- Names identify clients in logs: unique among the clients that are not revoked.
CREATE UNIQUE INDEX "coredb_clients_active_name_key" ON "coredb_clients" ("name") WHERE "revoked_at" IS NULL;
