internal import AftersaleCore
internal import AftersaleSQLite

/// The log's tables, and upgrades of files written by earlier versions.
extension EventLog {
    func migrate() throws {
        let stored = database.userVersion
        if stored == EventLog.schemaVersion, try storedFactsFormat() == EventFacts.formatVersion {
            // Facts a killed bulk load did not store are derived by the next writer.
            if !database.isReadOnly, try storedTailStart() != nil { try database.inTransaction { try mergePendingFacts() } }
            return
        }
        guard !database.isReadOnly else {
            throw StoreError(.needsUpgrade, "\(database.path) was written by an earlier version of aftersale and needs an upgrade: run `aftersale log` once with write access")
        }
        guard stored <= EventLog.schemaVersion else {
            throw StoreError(.newerSchema, "\(database.path) has log schema \(stored), newer than this build's \(EventLog.schemaVersion): upgrade aftersale")
        }
        try database.inTransaction {
            try database.execute("""
                CREATE TABLE IF NOT EXISTS events (
                    position  INTEGER PRIMARY KEY,
                    id        TEXT    NOT NULL,
                    type      TEXT    NOT NULL,
                    customer  TEXT    NOT NULL,
                    version   INTEGER NOT NULL,
                    at        INTEGER NOT NULL,
                    at_offset INTEGER NOT NULL,
                    schema    INTEGER NOT NULL,
                    data      TEXT    NOT NULL,
                    meta      TEXT,
                    recorded  INTEGER NOT NULL
                ) STRICT;
                CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events(id);
                CREATE TABLE IF NOT EXISTS streams (
                    stream   INTEGER PRIMARY KEY,
                    customer TEXT NOT NULL UNIQUE
                ) STRICT;
                CREATE TABLE IF NOT EXISTS stream_facts (
                    stream   INTEGER NOT NULL,
                    version  INTEGER NOT NULL,
                    position INTEGER NOT NULL,
                    facts    BLOB    NOT NULL,
                    PRIMARY KEY (stream, version)
                ) STRICT, WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS log_settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
                """)
            if stored == 1 {
                // Schema 1 kept no facts: number the streams in order of appearance, then derive the facts.
                try database.execute("""
                    INSERT INTO streams (customer) SELECT customer FROM events GROUP BY customer ORDER BY min(position);
                    DROP INDEX IF EXISTS events_stream;
                    """)
            }
            if stored == 2, try database.tableExists("pending_facts") {
                // Schema 2 kept a killed bulk load's facts in a table, for the next writer to merge.
                try database.execute("""
                    INSERT INTO stream_facts (stream, version, position, facts)
                    SELECT stream, version, position, facts FROM pending_facts ORDER BY stream, version;
                    DROP TABLE pending_facts;
                    """)
            }
            if stored >= 1, try storedFactsFormat() != EventFacts.formatVersion {
                try database.execute("DROP TABLE IF EXISTS pending_facts; DELETE FROM stream_facts; DELETE FROM log_settings WHERE name = 'facts_from'")
                try deriveFacts(from: 1)
            }
            try database.cached("INSERT INTO log_settings (name, value) VALUES ('facts_format', ?1) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
                .run([.int(Int64(EventFacts.formatVersion))])
            try storeLatestEventTime()
            try database.setUserVersion(EventLog.schemaVersion)
        }
    }

    /// Finds the latest customer event's time with one scan of the log and keeps it in
    /// `log_settings` (`latest_at`; the smallest integer for none yet), where appends keep it
    /// current: `latestEventTime` then reads one row. Instant on a new log; a log from before pays
    /// the scan once.
    func storeLatestEventTime() throws {
        try database.cached("""
            INSERT OR IGNORE INTO log_settings (name, value)
            SELECT 'latest_at', coalesce(max(at), -9223372036854775808) FROM events WHERE customer != ?1
            """).run([.text(EventType.systemCustomer)])
    }

    private func storedFactsFormat() throws -> Int? {
        guard try database.tableExists("log_settings") else { return nil }
        return try database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_format'").map(Int.init)
    }
}
