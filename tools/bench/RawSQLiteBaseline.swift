import CSQLite

/// The baseline: raw libsqlite3 inserting the same rows, with the same uniqueness guarantees
/// (unique text event id, unique (customer, version)), the same page cache and journal settings,
/// and the same batch size. No JSON, no validation: rows arrive pre-split in memory.
enum RawSQLiteBaseline {
    struct Row {
        var id: String
        var type: String
        var customer: String
        var version: Int64
        var at: Int64
        var data: String
        var meta: String?
    }

    /// Inserts `rows` into a fresh file and returns the seconds it took.
    static func insert(_ rows: [Row], path: String, batchSize: Int, pragmas: String, afterLoad: String) -> Double {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK, let db else { fatalError("cannot open \(path)") }
        defer { sqlite3_close(db) }
        func exec(_ sql: String) {
            guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { fatalError(String(cString: sqlite3_errmsg(db))) }
        }
        exec(pragmas)
        exec("""
            CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,
              customer TEXT NOT NULL, version INTEGER NOT NULL, at INTEGER NOT NULL, at_offset INTEGER NOT NULL,
              schema INTEGER NOT NULL, data TEXT NOT NULL, meta TEXT, recorded INTEGER NOT NULL) STRICT;
            CREATE UNIQUE INDEX events_id ON events(id);
            CREATE UNIQUE INDEX events_stream ON events(customer, version);
            """)
        var stmt: OpaquePointer?
        sqlite3_prepare_v2(db, "INSERT INTO events (id, type, customer, version, at, at_offset, schema, data, meta, recorded) VALUES (?,?,?,?,?,0,1,?,?,0)", -1, &stmt, nil)
        defer { sqlite3_finalize(stmt) }
        let transient = aftersale_sqlite_transient()
        let started = Stopwatch.seconds()
        var i = 0
        while i < rows.count {
            exec("BEGIN IMMEDIATE")
            for row in rows[i..<min(i + batchSize, rows.count)] {
                sqlite3_bind_text(stmt, 1, row.id, -1, transient)
                sqlite3_bind_text(stmt, 2, row.type, -1, transient)
                sqlite3_bind_text(stmt, 3, row.customer, -1, transient)
                sqlite3_bind_int64(stmt, 4, row.version)
                sqlite3_bind_int64(stmt, 5, row.at)
                sqlite3_bind_text(stmt, 6, row.data, -1, transient)
                if let meta = row.meta { sqlite3_bind_text(stmt, 7, meta, -1, transient) } else { sqlite3_bind_null(stmt, 7) }
                guard sqlite3_step(stmt) == SQLITE_DONE else { fatalError(String(cString: sqlite3_errmsg(db))) }
                sqlite3_reset(stmt)
            }
            exec("COMMIT")
            i += batchSize
        }
        exec(afterLoad)
        return Stopwatch.seconds() - started
    }
}

extension RawSQLiteBaseline {
    /// Rows per second of a raw scan reading every column of `columns` (the rebuild's baselines).
    static func scan(path: String, table: String, columns: [String]) -> Double {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let db else { return 0 }
        defer { sqlite3_close(db) }
        var stmt: OpaquePointer?
        sqlite3_prepare_v2(db, "SELECT \(columns.joined(separator: ", ")) FROM \(table)", -1, &stmt, nil)
        defer { sqlite3_finalize(stmt) }
        let started = Stopwatch.seconds()
        var rows = 0
        var bytes = 0
        while sqlite3_step(stmt) == SQLITE_ROW {
            rows += 1
            for column in Int32(0)..<Int32(columns.count) {
                _ = sqlite3_column_blob(stmt, column)
                bytes &+= Int(sqlite3_column_bytes(stmt, column))
            }
        }
        precondition(bytes > 0)
        return Double(rows) / (Stopwatch.seconds() - started)
    }
}
