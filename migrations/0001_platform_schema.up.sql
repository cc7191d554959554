-- The platform schema: the seven models of the story's schema.prisma, as `prisma migrate` would
-- create them (table names from @@map, quoted camelCase columns, TIMESTAMP(3), Prisma's
-- constraint and index names), with the fixes of DESIGN.md "Schema and migrations":
--   * ids and @updatedAt columns also get database defaults (gen_random_uuid()::text, now()),
--     and a trigger keeps "updatedAt" current, so writers other than Prisma behave the same;
--   * Library.chunks has no counterpart (chunks belong to a library through library_versions);
--   * usage_logs."libraryId" references libraries (ON DELETE SET NULL) and oauth_tokens."userId"
--     references users (ON DELETE CASCADE);
--   * the GIN full-text index on libraries.name is written in SQL.
-- Prisma creates @unique / @@unique as unique indexes (not constraints); so does this file.

-- Extensions of the story's init script, where the server has them. pg_trgm and uuid-ossp are
-- trusted extensions (PostgreSQL 13+): the database owner may create them without superuser.
-- Nothing below depends on them (gen_random_uuid() is built in since PostgreSQL 13).
DO $$
DECLARE
  ext text;
BEGIN
  FOREACH ext IN ARRAY ARRAY['uuid-ossp', 'pg_trgm'] LOOP
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = ext)
       AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = ext) THEN
      BEGIN
        EXECUTE format('CREATE EXTENSION IF NOT EXISTS %I', ext);
      EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'extension % not created: this role may not create it', ext;
      END;
    END IF;
  END LOOP;
END
$$;

-- CreateTable
CREATE TABLE "users" (
    "id" TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    "email" TEXT NOT NULL,
    "hashedPassword" TEXT,
    "oauthProvider" TEXT,
    "oauthId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    "userId" TEXT NOT NULL,
    "keyHash" TEXT NOT NULL,
    "keyPrefix" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "quotaRequestsPerMinute" INTEGER NOT NULL DEFAULT 60,
    "quotaRequestsPerDay" INTEGER NOT NULL DEFAULT 10000,
    "lastUsedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "libraries" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "vendor" TEXT,
    "repoUrl" TEXT,
    "docsUrl" TEXT,
    "defaultVersion" TEXT,
    "popularityScore" INTEGER NOT NULL DEFAULT 0,
    "totalSnippets" INTEGER NOT NULL DEFAULT 0,
    "totalTokens" INTEGER NOT NULL DEFAULT 0,
    "lastCrawledAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "metadata" JSONB,

    CONSTRAINT "libraries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "library_versions" (
    "id" TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    "libraryId" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "releaseDate" TIMESTAMP(3),
    "isLatest" BOOLEAN NOT NULL DEFAULT false,
    "docsSnapshotUrl" TEXT,

    CONSTRAINT "library_versions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "documentation_chunks" (
    "id" TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    "libraryVersionId" TEXT NOT NULL,
    "chunkIndex" INTEGER NOT NULL,
    "content" TEXT NOT NULL,
    "contentType" TEXT NOT NULL,
    "sourceUrl" TEXT,
    "tokenCount" INTEGER NOT NULL,
    "embeddingId" TEXT,
    "metadata" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "documentation_chunks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "usage_logs" (
    "id" TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    "userId" TEXT,
    "apiKeyId" TEXT,
    "toolName" TEXT NOT NULL,
    "libraryId" TEXT,
    "query" TEXT,
    "tokensReturned" INTEGER,
    "responseTimeMs" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_logs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "oauth_tokens" (
    "id" TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    "userId" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "accessToken" TEXT NOT NULL,
    "refreshToken" TEXT,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "oauth_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_keyHash_key" ON "api_keys"("keyHash");

-- CreateIndex (Prisma cannot express an expression index: written in SQL, DESIGN.md)
CREATE INDEX "libraries_name_idx" ON "libraries" USING GIN (to_tsvector('english', "name"));

-- CreateIndex
CREATE INDEX "libraries_popularityScore_idx" ON "libraries"("popularityScore");

-- CreateIndex
CREATE INDEX "libraries_lastCrawledAt_idx" ON "libraries"("lastCrawledAt");

-- CreateIndex
CREATE UNIQUE INDEX "library_versions_libraryId_version_key" ON "library_versions"("libraryId", "version");

-- CreateIndex
CREATE INDEX "documentation_chunks_libraryVersionId_idx" ON "documentation_chunks"("libraryVersionId");

-- CreateIndex
CREATE INDEX "documentation_chunks_contentType_idx" ON "documentation_chunks"("contentType");

-- CreateIndex
CREATE INDEX "usage_logs_userId_createdAt_idx" ON "usage_logs"("userId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "usage_logs_apiKeyId_createdAt_idx" ON "usage_logs"("apiKeyId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "usage_logs_toolName_idx" ON "usage_logs"("toolName");

-- CreateIndex
CREATE INDEX "usage_logs_createdAt_idx" ON "usage_logs"("createdAt" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "oauth_tokens_userId_provider_key" ON "oauth_tokens"("userId", "provider");

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "library_versions" ADD CONSTRAINT "library_versions_libraryId_fkey" FOREIGN KEY ("libraryId") REFERENCES "libraries"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "documentation_chunks" ADD CONSTRAINT "documentation_chunks_libraryVersionId_fkey" FOREIGN KEY ("libraryVersionId") REFERENCES "library_versions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "usage_logs" ADD CONSTRAINT "usage_logs_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "usage_logs" ADD CONSTRAINT "usage_logs_apiKeyId_fkey" FOREIGN KEY ("apiKeyId") REFERENCES "api_keys"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "usage_logs" ADD CONSTRAINT "usage_logs_libraryId_fkey" FOREIGN KEY ("libraryId") REFERENCES "libraries"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "oauth_tokens" ADD CONSTRAINT "oauth_tokens_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- @updatedAt for every writer: an UPDATE that does not set "updatedAt" itself gets the current
-- time (Prisma sets it explicitly, and keeps its own value).
CREATE FUNCTION "coredb_set_updated_at"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."updatedAt" IS NOT DISTINCT FROM OLD."updatedAt" THEN
    NEW."updatedAt" := CURRENT_TIMESTAMP;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER "users_set_updated_at" BEFORE UPDATE ON "users"
  FOR EACH ROW EXECUTE FUNCTION "coredb_set_updated_at"();

CREATE TRIGGER "libraries_set_updated_at" BEFORE UPDATE ON "libraries"
  FOR EACH ROW EXECUTE FUNCTION "coredb_set_updated_at"();
