-- Runs once, when the pgvector/pgvector:pg15 container initialises an empty data directory
-- (docker-entrypoint-initdb.d), as the superuser POSTGRES_USER. The service checks for the
-- extension at start-up and the vectors API answers 503 without it.
CREATE EXTENSION IF NOT EXISTS vector;
