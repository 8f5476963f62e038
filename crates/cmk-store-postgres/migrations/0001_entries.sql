-- The ordered key-value map behind cmk_store::Store.
-- COLLATE "C" makes comparisons and ORDER BY byte order, whatever the database's locale: the same order as
-- SQLite, and the one that the range scans for prefixes rely on.
CREATE TABLE entries (
    key TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 512),
    revision BIGINT NOT NULL CHECK (revision > 0),
    value BYTEA NOT NULL
);

-- The global revision: one row, bumped first in every write transaction. Its row lock orders the writers, so
-- revisions follow commit order even across nodes (a sequence would hand out numbers in start order instead).
CREATE TABLE store_revision (
    id SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL CHECK (revision >= 0)
);

INSERT INTO store_revision (id, revision) VALUES (1, 0);
