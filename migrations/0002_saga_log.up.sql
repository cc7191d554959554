-- The durable saga log (API.md "Sagas", issue 9): one row per saga, holding its definition (the
-- steps as the client sent them) and the state of every step, rewritten before and after each
-- step so that a service killed at any point finishes the saga on restart. Also the replies kept
-- for Idempotency-Key retries of POST /api/v1/query writes.
CREATE TABLE "coredb_sagas" (
    "id" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "definition" JSONB NOT NULL,
    "steps" JSONB NOT NULL,
    "idempotencyKey" TEXT,
    "requestHash" TEXT,
    "httpStatus" INTEGER,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "coredb_sagas_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "coredb_sagas_status_check"
        CHECK ("status" IN ('running', 'completed', 'compensating', 'compensated', 'failed'))
);
CREATE UNIQUE INDEX "coredb_sagas_clientId_idempotencyKey_key" ON "coredb_sagas" ("clientId", "idempotencyKey")
    WHERE "idempotencyKey" IS NOT NULL;
CREATE INDEX "coredb_sagas_status_updatedAt_idx" ON "coredb_sagas" ("status", "updatedAt");

-- Replies to writes sent through POST /api/v1/query with an Idempotency-Key: stored in the same
-- transaction as the write, so a retry either finds the reply or finds nothing was written.
CREATE TABLE "coredb_idempotency" (
    "clientId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,
    "response" JSONB,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "coredb_idempotency_pkey" PRIMARY KEY ("clientId", "key")
);
CREATE INDEX "coredb_idempotency_createdAt_idx" ON "coredb_idempotency" ("createdAt");
