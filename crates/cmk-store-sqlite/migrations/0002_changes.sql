-- The change feed: the keys each commit wrote or deleted, by revision, with the commit's time (milliseconds
-- since the Unix epoch) so that old changes can be forgotten.
CREATE TABLE changes (
    revision INTEGER NOT NULL,
    key TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    PRIMARY KEY (revision, key)
);

CREATE INDEX changes_by_time ON changes (committed_at);

-- Changes at or below this revision are forgotten (or were never kept: those of a store older than the feed).
ALTER TABLE store_revision ADD COLUMN forgotten_through INTEGER NOT NULL DEFAULT 0;
UPDATE store_revision SET forgotten_through = revision;
