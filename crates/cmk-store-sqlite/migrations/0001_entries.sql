-- The ordered key-value map behind cmk_store::Store.
-- TEXT keys compare with SQLite's default BINARY collation, which is byte order: listing relies on it.
CREATE TABLE entries (
    key TEXT NOT NULL PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 512),
    revision INTEGER NOT NULL CHECK (revision > 0),
    value BLOB NOT NULL
);

-- The global revision: one row, bumped inside every write transaction, so revisions follow commit order.
CREATE TABLE store_revision (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL CHECK (revision >= 0)
);

INSERT INTO store_revision (id, revision) VALUES (1, 0);
