-- Extensions the schema relies on.
-- pg_trgm: trigram GIN indexes for username / full name / hashtag search
-- (serve both `%` similarity and `LIKE '%an%'` / `LIKE 'an%'` on lower(col)).
-- citext is deliberately NOT used: case-insensitivity is done with unique
-- indexes on lower(col), which keeps columns plain text for the drivers.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
