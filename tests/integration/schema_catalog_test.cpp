// The platform schema (migration 1) compared with the model of the story's schema.prisma, as
// Prisma would create it (with DESIGN.md's fixes), through the live catalog: every column with
// its type, nullability and default, every index, every constraint. Also what the catalog alone
// does not show: the @updatedAt trigger, onDelete behaviour, the GIN index in use. And
// rollback-then-migrate returns the catalog to the identical state.
#include "integration/pg_test_support.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include "coredb/migrations/pg_migrator.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace coredb::migrations {
namespace {

namespace asio = boost::asio;
using coredb::pg::testing::RunCoro;
using coredb::testing::Psql;
using coredb::testing::ScratchDatabase;
using Rows = std::vector<std::vector<std::string>>;

constexpr const char* kTables =
    "('users','api_keys','libraries','library_versions','documentation_chunks','usage_logs','oauth_tokens')";

// table, column, data_type, datetime_precision, is_nullable, column_default — in column order.
const Rows kExpectedColumns = {
    // model User
    {"users", "id", "text", "<null>", "NO", "(gen_random_uuid())::text"},
    {"users", "email", "text", "<null>", "NO", "<null>"},
    {"users", "hashedPassword", "text", "<null>", "YES", "<null>"},
    {"users", "oauthProvider", "text", "<null>", "YES", "<null>"},
    {"users", "oauthId", "text", "<null>", "YES", "<null>"},
    {"users", "createdAt", "timestamp without time zone", "3", "NO", "CURRENT_TIMESTAMP"},
    {"users", "updatedAt", "timestamp without time zone", "3", "NO", "CURRENT_TIMESTAMP"},
    // model ApiKey
    {"api_keys", "id", "text", "<null>", "NO", "(gen_random_uuid())::text"},
    {"api_keys", "userId", "text", "<null>", "NO", "<null>"},
    {"api_keys", "keyHash", "text", "<null>", "NO", "<null>"},
    {"api_keys", "keyPrefix", "text", "<null>", "NO", "<null>"},
    {"api_keys", "name", "text", "<null>", "NO", "<null>"},
    {"api_keys", "quotaRequestsPerMinute", "integer", "<null>", "NO", "60"},
    {"api_keys", "quotaRequestsPerDay", "integer", "<null>", "NO", "10000"},
    {"api_keys", "lastUsedAt", "timestamp without time zone", "3", "YES", "<null>"},
    {"api_keys", "createdAt", "timestamp without time zone", "3", "NO", "CURRENT_TIMESTAMP"},
    {"api_keys", "revokedAt", "timestamp without time zone", "3", "YES", "<null>"},
    // model Library (id has no default: "/vendor/name" is given by the caller)
    {"libraries", "id", "text", "<null>", "NO", "<null>"},
    {"libraries", "name", "text", "<null>", "NO", "<null>"},
    {"libraries", "vendor", "text", "<null>", "YES", "<null>"},
    {"libraries", "repoUrl", "text", "<null>", "YES", "<null>"},
    {"libraries", "docsUrl", "text", "<null>", "YES", "<null>"},
    {"libraries", "defaultVersion", "text", "<null>", "YES", "<null>"},
    {"libraries", "popularityScore", "integer", "<null>", "NO", "0"},
    {"libraries", "totalSnippets", "integer", "<null>", "NO", "0"},
    {"libraries", "totalTokens", "integer", "<null>", "NO", "0"},
    {"libraries", "lastCrawledAt", "timestamp without time zone", "3", "YES", "<null>"},
    {"libraries", "createdAt", "timestamp without time zone", "3", "NO", "CURRENT_TIMESTAMP"},
    {"libraries", "updatedAt", "timestamp without time zone", "3", "NO", "CURRENT_TIMESTAMP"},
    {"libraries", "metadata", "jsonb", "<null>", "YES", "<null>"},
    // model LibraryVersion
    {"library_versions", "id", "text", "<null>", "NO", "(gen_random_uuid())::text"},
    {"library_versions", "libraryId", "text", "<null>", "NO", "<null>"},
    {"library_versions", "version", "text", "<null>", "NO", "<null>"},
    {"library_versions", "releaseDate", "timestamp without time zone", "3", "YES", "<null>"},
    {"library_versions", "isLatest", "boolean", "<null>", "NO", "false"},
    {"library_versions", "docsSnapshotUrl", "text", "<null>", "YES", "<null>"},
    // model DocumentationChunk
    {"documentation_chunks", "id", "text", "<null>", "NO", "(gen_random_uuid())::text"},
    {"documentation_chunks", "libraryVersionId", "text", "<null>", "NO", "<null>"},
    {"documentation_chunks", "chunkIndex", "integer", "<null>", "NO", "<null>"},
    {"documentation_chunks", "content", "text", "<null>", "NO", "<null>"},
    {"documentation_chunks", "contentType", "text", "<null>", "NO", "<null>"},
    {"documentation_chunks", "sourceUrl", "text", "<null>", "YES", "<null>"},
    {"documentation_chunks", "tokenCount", "integer", "<null>", "NO", "<null>"},
    {"documentation_chunks", "embeddingId", "text", "<null>", "YES", "<null>"},
    {"documentation_chunks", "metadata", "jsonb", "<null>", "YES", "<null>"},
    {"documentation_chunks", "createdAt", "timestamp without time zone", "3", "NO", "CURRENT_TIMESTAMP"},
    // model UsageLog
    {"usage_logs", "id", "text", "<null>", "NO", "(gen_random_uuid())::text"},
    {"usage_logs", "userId", "text", "<null>", "YES", "<null>"},
    {"usage_logs", "apiKeyId", "text", "<null>", "YES", "<null>"},
    {"usage_logs", "toolName", "text", "<null>", "NO", "<null>"},
    {"usage_logs", "libraryId", "text", "<null>", "YES", "<null>"},
    {"usage_logs", "query", "text", "<null>", "YES", "<null>"},
    {"usage_logs", "tokensReturned", "integer", "<null>", "YES", "<null>"},
    {"usage_logs", "responseTimeMs", "integer", "<null>", "YES", "<null>"},
    {"usage_logs", "createdAt", "timestamp without time zone", "3", "NO", "CURRENT_TIMESTAMP"},
    // model OAuthToken
    {"oauth_tokens", "id", "text", "<null>", "NO", "(gen_random_uuid())::text"},
    {"oauth_tokens", "userId", "text", "<null>", "NO", "<null>"},
    {"oauth_tokens", "provider", "text", "<null>", "NO", "<null>"},
    {"oauth_tokens", "accessToken", "text", "<null>", "NO", "<null>"},
    {"oauth_tokens", "refreshToken", "text", "<null>", "YES", "<null>"},
    {"oauth_tokens", "expiresAt", "timestamp without time zone", "3", "NO", "<null>"},
    {"oauth_tokens", "createdAt", "timestamp without time zone", "3", "NO", "CURRENT_TIMESTAMP"},
};

// Prisma's names: <table>_pkey, <table>_<fields>_key (unique indexes), <table>_<fields>_idx.
const std::vector<std::string> kExpectedIndexes = {
    R"(CREATE INDEX "documentation_chunks_contentType_idx" ON public.documentation_chunks USING btree ("contentType"))",
    R"(CREATE INDEX "documentation_chunks_libraryVersionId_idx" ON public.documentation_chunks USING btree ("libraryVersionId"))",
    R"(CREATE INDEX "libraries_lastCrawledAt_idx" ON public.libraries USING btree ("lastCrawledAt"))",
    R"(CREATE INDEX "libraries_popularityScore_idx" ON public.libraries USING btree ("popularityScore"))",
    R"(CREATE INDEX "usage_logs_apiKeyId_createdAt_idx" ON public.usage_logs USING btree ("apiKeyId", "createdAt" DESC))",
    R"(CREATE INDEX "usage_logs_createdAt_idx" ON public.usage_logs USING btree ("createdAt" DESC))",
    R"(CREATE INDEX "usage_logs_toolName_idx" ON public.usage_logs USING btree ("toolName"))",
    R"(CREATE INDEX "usage_logs_userId_createdAt_idx" ON public.usage_logs USING btree ("userId", "createdAt" DESC))",
    R"(CREATE INDEX libraries_name_idx ON public.libraries USING gin (to_tsvector('english'::regconfig, name)))",
    R"(CREATE UNIQUE INDEX "api_keys_keyHash_key" ON public.api_keys USING btree ("keyHash"))",
    R"(CREATE UNIQUE INDEX "library_versions_libraryId_version_key" ON public.library_versions USING btree ("libraryId", version))",
    R"(CREATE UNIQUE INDEX "oauth_tokens_userId_provider_key" ON public.oauth_tokens USING btree ("userId", provider))",
    R"(CREATE UNIQUE INDEX api_keys_pkey ON public.api_keys USING btree (id))",
    R"(CREATE UNIQUE INDEX documentation_chunks_pkey ON public.documentation_chunks USING btree (id))",
    R"(CREATE UNIQUE INDEX libraries_pkey ON public.libraries USING btree (id))",
    R"(CREATE UNIQUE INDEX library_versions_pkey ON public.library_versions USING btree (id))",
    R"(CREATE UNIQUE INDEX oauth_tokens_pkey ON public.oauth_tokens USING btree (id))",
    R"(CREATE UNIQUE INDEX usage_logs_pkey ON public.usage_logs USING btree (id))",
    R"(CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email))",
    R"(CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id))",
};

// table, constraint, definition. Prisma's default onUpdate is Cascade.
const Rows kExpectedConstraints = {
    {"api_keys", "api_keys_pkey", "PRIMARY KEY (id)"},
    {"api_keys", "api_keys_userId_fkey",
     R"(FOREIGN KEY ("userId") REFERENCES users(id) ON UPDATE CASCADE ON DELETE CASCADE)"},
    {"documentation_chunks", "documentation_chunks_libraryVersionId_fkey",
     R"(FOREIGN KEY ("libraryVersionId") REFERENCES library_versions(id) ON UPDATE CASCADE ON DELETE CASCADE)"},
    {"documentation_chunks", "documentation_chunks_pkey", "PRIMARY KEY (id)"},
    {"libraries", "libraries_pkey", "PRIMARY KEY (id)"},
    {"library_versions", "library_versions_libraryId_fkey",
     R"(FOREIGN KEY ("libraryId") REFERENCES libraries(id) ON UPDATE CASCADE ON DELETE CASCADE)"},
    {"library_versions", "library_versions_pkey", "PRIMARY KEY (id)"},
    {"oauth_tokens", "oauth_tokens_pkey", "PRIMARY KEY (id)"},
    {"oauth_tokens", "oauth_tokens_userId_fkey",
     R"(FOREIGN KEY ("userId") REFERENCES users(id) ON UPDATE CASCADE ON DELETE CASCADE)"},
    {"usage_logs", "usage_logs_apiKeyId_fkey",
     R"(FOREIGN KEY ("apiKeyId") REFERENCES api_keys(id) ON UPDATE CASCADE ON DELETE SET NULL)"},
    {"usage_logs", "usage_logs_libraryId_fkey",
     R"(FOREIGN KEY ("libraryId") REFERENCES libraries(id) ON UPDATE CASCADE ON DELETE SET NULL)"},
    {"usage_logs", "usage_logs_pkey", "PRIMARY KEY (id)"},
    {"usage_logs", "usage_logs_userId_fkey",
     R"(FOREIGN KEY ("userId") REFERENCES users(id) ON UPDATE CASCADE ON DELETE SET NULL)"},
    {"users", "users_pkey", "PRIMARY KEY (id)"},
};

const Rows kExpectedTriggers = {
    {"libraries", "libraries_set_updated_at"},
    {"users", "users_set_updated_at"},
};

Rows Columns(Psql& db) {
  return db.Exec(std::string("SELECT table_name, column_name, data_type, datetime_precision::text, is_nullable, "
                             "column_default FROM information_schema.columns WHERE table_schema = 'public' AND "
                             "table_name IN ") +
                 kTables +
                 " ORDER BY array_position(ARRAY['users','api_keys','libraries','library_versions',"
                 "'documentation_chunks','usage_logs','oauth_tokens'], table_name::text), ordinal_position");
}

std::vector<std::string> Indexes(Psql& db) {
  std::vector<std::string> out;
  for (auto& row :
       db.Exec(std::string("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ") + kTables +
               " ORDER BY indexdef COLLATE \"C\"")) {
    out.push_back(row[0]);
  }
  return out;
}

Rows Constraints(Psql& db) {
  return db.Exec(std::string("SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
                             "FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace "
                             "AND c.conrelid::regclass::text IN ") +
                 kTables + " ORDER BY 1, 2");
}

Rows Triggers(Psql& db) {
  return db.Exec(std::string("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal "
                             "AND tgrelid::regclass::text IN ") +
                 kTables + " ORDER BY 1, 2");
}

// Everything the platform schema consists of, as text (no OIDs), for before/after comparisons.
Rows Snapshot(Psql& db) {
  Rows all = Columns(db);
  for (auto& i : Indexes(db)) all.push_back({"index", i});
  for (auto& c : Constraints(db)) all.push_back(c);
  for (auto& t : db.Exec(std::string("SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                                     "WHERE NOT tgisinternal AND tgrelid::regclass::text IN ") +
                         kTables + " ORDER BY 1, 2")) {
    all.push_back(t);
  }
  for (auto& f : db.Exec("SELECT proname, pg_get_functiondef(oid) FROM pg_proc WHERE pronamespace = "
                         "'public'::regnamespace AND proname = 'coredb_set_updated_at'")) {
    all.push_back(f);
  }
  for (auto& e : db.Exec("SELECT extname FROM pg_extension ORDER BY 1")) all.push_back({"extension", e[0]});
  return all;
}

class SchemaCatalog : public ::testing::Test {
 protected:
  void SetUp() override {
    auto set = LoadMigrations("");
    ASSERT_TRUE(set) << set.error().message;
    MigratorOptions options;
    options.connection.conninfo = db_.app_conninfo();
    migrator_ = std::make_unique<PgMigrator>(io_.get_executor(), worker_, std::move(*set), options);
    auto run = RunCoro(io_, migrator_->Migrate(std::nullopt));
    ASSERT_TRUE(run) << run.error().message;
    psql_ = std::make_unique<Psql>(db_.app_conninfo());
  }

  ScratchDatabase db_;
  asio::io_context io_;
  pg::CancelWorker worker_;
  std::unique_ptr<PgMigrator> migrator_;
  std::unique_ptr<Psql> psql_;
};

TEST_F(SchemaCatalog, EveryColumnMatchesTheModelWithItsTypeNullabilityAndDefault) {
  const Rows actual = Columns(*psql_);
  ASSERT_EQ(actual.size(), kExpectedColumns.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i], kExpectedColumns[i])
        << "column " << i << ": " << kExpectedColumns[i][0] << "." << kExpectedColumns[i][1];
  }
  // Nothing else in the schema but the service's own tables: migration history and saga log.
  EXPECT_EQ(psql_->Scalar("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
                          "WHERE table_schema = 'public'"),
            "api_keys,coredb_clients,coredb_idempotency,coredb_sagas,coredb_schema_migrations,documentation_chunks,libraries,"
            "library_versions,"
            "oauth_tokens,usage_logs,users");
}

TEST_F(SchemaCatalog, EveryIndexHasPrismasNameAndDefinitionIncludingGinAndDescendingOnes) {
  EXPECT_EQ(Indexes(*psql_), kExpectedIndexes);
}

TEST_F(SchemaCatalog, ConstraintsAndTriggersMatchTheModel) {
  EXPECT_EQ(Constraints(*psql_), kExpectedConstraints);
  EXPECT_EQ(Triggers(*psql_), kExpectedTriggers);
}

TEST_F(SchemaCatalog, RollbackThenMigrateReturnsTheIdenticalCatalog) {
  const Rows before = Snapshot(*psql_);
  ASSERT_GT(before.size(), kExpectedColumns.size());
  // Every migration down (the saga log of 0002 and the clients of 0003 too), then up again.
  auto down = RunCoro(io_, migrator_->Rollback(3));
  ASSERT_TRUE(down) << down.error().message;
  EXPECT_EQ(psql_->Scalar(std::string("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                                      "AND relname IN ") +
                          kTables),
            "0");
  EXPECT_EQ(psql_->Scalar("SELECT count(*) FROM pg_proc WHERE proname = 'coredb_set_updated_at'"), "0");
  auto up = RunCoro(io_, migrator_->Migrate(std::nullopt));
  ASSERT_TRUE(up) << up.error().message;
  const Rows after = Snapshot(*psql_);
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_EQ(after[i], before[i]) << "entry " << i;
}

TEST_F(SchemaCatalog, DefaultsFillIdsTimestampsAndQuotas) {
  psql_->Exec("INSERT INTO users (email) VALUES ('d@example.com')");
  auto user = psql_->Exec(
      "SELECT id, \"createdAt\" = \"updatedAt\", now() - \"createdAt\" < interval '1 minute' "
      "FROM users");
  ASSERT_EQ(user.size(), 1u);
  EXPECT_TRUE(
      std::regex_match(user[0][0], std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << user[0][0];
  EXPECT_EQ(user[0][1], "t");
  EXPECT_EQ(user[0][2], "t");
  psql_->Exec(
      "INSERT INTO api_keys (\"userId\", \"keyHash\", \"keyPrefix\", name) SELECT id, 'h', 'p_', 'k' FROM users");
  EXPECT_EQ(psql_->Exec("SELECT \"quotaRequestsPerMinute\", \"quotaRequestsPerDay\", \"revokedAt\" FROM api_keys"),
            (Rows{{"60", "10000", "<null>"}}));
  psql_->Exec("INSERT INTO libraries (id, name) VALUES ('/v/n', 'N')");
  EXPECT_EQ(psql_->Exec("SELECT \"popularityScore\", \"totalSnippets\", \"totalTokens\" FROM libraries"),
            (Rows{{"0", "0", "0"}}));
  psql_->Exec("INSERT INTO library_versions (\"libraryId\", version) VALUES ('/v/n', '1.0')");
  EXPECT_EQ(psql_->Scalar("SELECT \"isLatest\" FROM library_versions"), "f");
}

TEST_F(SchemaCatalog, UpdatedAtMovesOnUpdateUnlessTheWriterSetsItLikePrisma) {
  psql_->Exec(
      "INSERT INTO users (email, \"createdAt\", \"updatedAt\") VALUES ('u@example.com', "
      "'2020-01-01', '2020-01-01')");
  psql_->Exec("UPDATE users SET \"oauthProvider\" = 'github'");
  EXPECT_EQ(psql_->Scalar("SELECT now() - \"updatedAt\" < interval '1 minute' FROM users"), "t");
  EXPECT_EQ(psql_->Scalar("SELECT \"createdAt\"::text FROM users"), "2020-01-01 00:00:00");
  psql_->Exec("UPDATE users SET \"updatedAt\" = '2021-02-03 04:05:06.789'");  // what Prisma sends
  EXPECT_EQ(psql_->Scalar("SELECT \"updatedAt\"::text FROM users"), "2021-02-03 04:05:06.789");
  psql_->Exec("INSERT INTO libraries (id, name, \"updatedAt\") VALUES ('/v/n', 'N', '2020-01-01')");
  psql_->Exec("UPDATE libraries SET \"popularityScore\" = 5");
  EXPECT_EQ(psql_->Scalar("SELECT now() - \"updatedAt\" < interval '1 minute' FROM libraries"), "t");
}

TEST_F(SchemaCatalog, ForeignKeysCascadeOrSetNullAsTheModelSays) {
  psql_->Exec("INSERT INTO users (id, email) VALUES ('u1', 'a@example.com')");
  psql_->Exec(
      "INSERT INTO api_keys (id, \"userId\", \"keyHash\", \"keyPrefix\", name) VALUES ('k1', 'u1', 'h', 'p', 'n')");
  psql_->Exec(
      "INSERT INTO oauth_tokens (\"userId\", provider, \"accessToken\", \"expiresAt\") VALUES ('u1', 'github', "
      "'t', now())");
  psql_->Exec("INSERT INTO libraries (id, name) VALUES ('/v/n', 'N')");
  psql_->Exec("INSERT INTO library_versions (id, \"libraryId\", version) VALUES ('lv1', '/v/n', '1')");
  psql_->Exec(
      "INSERT INTO documentation_chunks (\"libraryVersionId\", \"chunkIndex\", content, \"contentType\", "
      "\"tokenCount\") VALUES ('lv1', 0, 'c', 'snippet', 1)");
  psql_->Exec(
      "INSERT INTO usage_logs (\"userId\", \"apiKeyId\", \"libraryId\", \"toolName\") VALUES ('u1', 'k1', "
      "'/v/n', 'query-docs')");
  EXPECT_THROW(
      psql_->Exec("INSERT INTO api_keys (\"userId\", \"keyHash\", \"keyPrefix\", name) VALUES ('nobody', 'h2', "
                  "'p', 'n')"),
      std::runtime_error);
  EXPECT_THROW(psql_->Exec("INSERT INTO users (email) VALUES ('a@example.com')"), std::runtime_error);

  psql_->Exec("DELETE FROM users WHERE id = 'u1'");
  EXPECT_EQ(psql_->Scalar("SELECT count(*) FROM api_keys"), "0");      // Cascade
  EXPECT_EQ(psql_->Scalar("SELECT count(*) FROM oauth_tokens"), "0");  // Cascade (DESIGN.md)
  EXPECT_EQ(psql_->Exec("SELECT \"userId\", \"apiKeyId\", \"libraryId\" FROM usage_logs"),
            (Rows{{"<null>", "<null>", "/v/n"}}));  // SetNull; the log stays
  psql_->Exec("DELETE FROM libraries");
  EXPECT_EQ(psql_->Scalar("SELECT count(*) FROM documentation_chunks"), "0");     // through library_versions
  EXPECT_EQ(psql_->Scalar("SELECT \"libraryId\" IS NULL FROM usage_logs"), "t");  // SetNull (DESIGN.md)
}

TEST_F(SchemaCatalog, FullTextSearchOnLibraryNamesUsesTheGinIndex) {
  psql_->Exec("INSERT INTO libraries (id, name) SELECT '/v/' || i, 'Library ' || i FROM generate_series(1, 200) i");
  psql_->Exec("INSERT INTO libraries (id, name) VALUES ('/mongodb/docs', 'MongoDB Documentation')");
  psql_->Exec("ANALYZE libraries");
  const std::string query =
      "SELECT id FROM libraries WHERE to_tsvector('english', name) @@ plainto_tsquery('english', 'mongodb')";
  EXPECT_EQ(psql_->Scalar(query), "/mongodb/docs");
  psql_->Exec("SET enable_seqscan = off");
  std::string plan;
  for (auto& row : psql_->Exec("EXPLAIN " + query)) plan += row[0] + "\n";
  EXPECT_NE(plan.find("libraries_name_idx"), std::string::npos) << plan;
}

}  // namespace
}  // namespace coredb::migrations
