internal import CSQLite

/// An SQLite failure: the extended result code, SQLite's message and the SQL, never bound values
/// (they hold personal data).
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var sql: String?

    public var description: String {
        var s = "SQLite error \(code): \(message)"
        if let sql { s += " (in: \(sql.prefix(160)))" }
        return s
    }

    /// SQLITE_BUSY or SQLITE_LOCKED: another connection holds the lock.
    public var isBusy: Bool { code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED }
    public var isConstraint: Bool { code & 0xFF == SQLITE_CONSTRAINT }
}

/// One connection to one SQLite file. Not thread-safe: one owner at a time.
public final class Database {
    let handle: OpaquePointer
    public let path: String
    public let isReadOnly: Bool
    private var statementCache: [String: Statement] = [:]
    /// The checkpointer of the `withBackgroundCheckpoints` running on this connection, if any.
    var backgroundCheckpointer: BackgroundCheckpointer?
    /// This process's writers to the same file that take turns with this connection's write
    /// transactions (nil: only SQLite's lock and busy handler decide).
    public var writerTurns: WriterTurns?
    /// Called after every rollback of `inTransaction` (`onRollback`).
    private var rollbackHandlers: [() -> Void] = []

    /// Opens (creating if needed) the file, in WAL mode, checked rather than assumed.
    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "\(message): \(path)", sql: nil)
        }
        self.handle = db
        self.path = path
        self.isReadOnly = readOnly
        sqlite3_extended_result_codes(db, 1)
        // Before the first statement: another process may be creating or writing the same file.
        sqlite3_busy_timeout(db, Database.busyTimeoutMillis)
        if !readOnly {
            // Only a file with no pages yet takes it: it must come before WAL mode is set.
            try execute(Database.newFilePragmas)
            let wanted = "wal"
            let mode = try retryingWhileBusy { () throws(SQLiteError) in try scalarText("PRAGMA journal_mode=\(wanted)") }
            guard mode?.lowercased() == wanted else {
                throw SQLiteError(code: SQLITE_ERROR, message: "journal_mode answered '\(mode ?? "nothing")', not '\(wanted)': \(path)", sql: nil)
            }
        }
        try execute(Database.connectionPragmas)
    }

    /// How long a connection waits for another one's lock before it answers "database is locked".
    public static let busyTimeoutMillis: Int32 = 10_000

    /// Runs `body` again while it fails with SQLITE_BUSY, for at most `busyTimeoutMillis` in all.
    ///
    /// For some statements SQLite answers BUSY at once instead of calling the busy handler: switching
    /// a new file to WAL asks for the write lock while already reading it, so when another
    /// connection holds the write lock (a second process creating the same file) waiting inside
    /// SQLite could deadlock. Here nothing is held between tries, so waiting is safe. The bound is
    /// slept time, added up, so no clock is read.
    func retryingWhileBusy<R>(_ body: () throws(SQLiteError) -> R) throws(SQLiteError) -> R {
        var slept: Int32 = 0
        var pause: Int32 = 1
        while true {
            do {
                return try body()
            } catch where error.isBusy && slept < Database.busyTimeoutMillis {
                pause = min(pause, Database.busyTimeoutMillis - slept)
                sqlite3_sleep(pause)
                slept += pause
                pause = min(pause * 2, 100)
            }
        }
    }

    /// The page size of a new file (an existing one keeps its own: a file in WAL mode cannot change
    /// it). SQLite's default is 4 KiB; with 16 KiB pages a file is read and written in a quarter
    /// of the system calls and WAL frames, and both a large ingest and a rebuild of the customers
    /// projection took less time than with 4 KiB.
    public static let pageSize = 16384
    /// Settings only a new, empty file takes (the benchmark's raw baseline uses the same).
    public static let newFilePragmas = "PRAGMA page_size=\(pageSize);"

    /// For a raw bulk load (the benchmark's baseline): checkpoint the WAL every 100,000 pages
    /// instead of every 1,000 (1.6 GB instead of 16 MB with 16 KiB pages), so hot index pages are
    /// copied into the database once per checkpoint rather than hundreds of times. The engine's own
    /// long writers checkpoint on a background thread instead (`withBackgroundCheckpoints`).
    public static let bulkLoadPragmas = "PRAGMA wal_autocheckpoint=100000;"
    /// After a raw bulk load: back to the default interval, and the WAL folded in and truncated.
    public static let afterBulkLoadPragmas = "PRAGMA wal_autocheckpoint=1000; PRAGMA wal_checkpoint(TRUNCATE);"

    /// Settings every connection gets (the benchmark's raw baseline uses the same).
    ///
    /// WAL + NORMAL: a killed process loses nothing committed and never corrupts the file; a power
    /// cut may lose the last transactions, never consistency. The page cache is a fixed size, so
    /// memory does not grow with the log.
    ///
    /// Debian builds libsqlite3 with SQLITE_SECURE_DELETE, so by default every page freed is first
    /// overwritten with zeros and written out again: dropping a replaced read model wrote its whole
    /// size through the WAL a second time, a good part of a rebuild's time. FAST still
    /// zeroes deleted content on pages that are written anyway, and leaves freed pages alone (what
    /// they held is still in the log, the source of truth, whatever happens to them).
    public static let connectionPragmas = """
        PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;
        PRAGMA secure_delete=FAST;
        """

    deinit {
        statementCache.removeAll()
        sqlite3_close_v2(handle)
    }

    func error(_ rc: Int32, sql: String?) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Runs one or more statements with no results.
    public func execute(_ sql: String) throws(SQLiteError) {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? "error"
            sqlite3_free(errmsg)
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: message, sql: sql)
        }
    }

    /// Copies the write-ahead log into the file and truncates it to nothing, so pages it held
    /// (erased data among them) are in no file any more. Waits for other connections' readers and
    /// writers through the busy handler; returns false when one still held the log at the end.
    /// - Parameter waiting: false: waits for no one, copying what it can while others use the file.
    public func emptyWriteAheadLog(waiting: Bool = true) throws(SQLiteError) -> Bool {
        if !waiting { sqlite3_busy_timeout(handle, 0) }
        defer { if !waiting { sqlite3_busy_timeout(handle, Database.busyTimeoutMillis) } }
        var log: Int32 = 0, copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, &log, &copied)
        if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { return false }
        guard rc == SQLITE_OK else { throw error(rc, sql: "wal_checkpoint(TRUNCATE)") }
        return log == 0
    }

    /// A prepared statement, cached by its SQL text for the life of the connection.
    public func cached(_ sql: String) throws(SQLiteError) -> Statement {
        if let statement = statementCache[sql] {
            statement.reset()
            return statement
        }
        let statement = try Statement(database: self, sql: sql)
        statementCache[sql] = statement
        return statement
    }

    /// A new prepared statement, finalized when released.
    public func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        try Statement(database: self, sql: sql)
    }

    public func scalarText(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    public func scalarInt(_ sql: String, _ bindings: [SQLValue] = []) throws(SQLiteError) -> Int64? {
        let statement = try prepare(sql)
        try statement.bind(bindings)
        guard try statement.step(), !statement.isNull(0) else { return nil }
        return statement.int64(0)
    }

    /// Runs `body` in a transaction: commits when it returns, rolls back when it throws.
    ///
    /// `immediate` takes the write lock at the start, so the single writer assigns positions.
    public func inTransaction<T>(immediate: Bool = true, _ body: () throws -> T) throws -> T {
        // A write waits for its turn among this process's writers first (see `WriterTurns`).
        let turns = immediate ? writerTurns : nil
        turns?.take()
        defer { turns?.release() }
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            for handler in rollbackHandlers { handler() }
            throw error
        }
    }

    /// Calls `handler` after each rollback of `inTransaction`: what an owner of this connection
    /// caches about the file (stream heads, ids handed out) is undone with it, whoever began the
    /// transaction.
    public func onRollback(_ handler: @escaping () -> Void) {
        rollbackHandlers.append(handler)
    }

    /// Runs `body`'s reads on one snapshot of the file: in a read transaction of its own, or in the
    /// caller's transaction when one is open.
    public func onOneSnapshot<T>(_ body: () throws -> T) throws -> T {
        sqlite3_get_autocommit(handle) == 0 ? try body() : try inTransaction(immediate: false, body)
    }

    /// Bytes of memory SQLite holds in this process (every connection's page cache, statements,
    /// schemas), for a service's metrics.
    public static var memoryUsed: Int64 { sqlite3_memory_used() }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Rows changed by the last statement.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Changes whenever another connection commits to the file (`PRAGMA data_version`).
    public func dataVersion() throws(SQLiteError) -> Int64 {
        // Asked before every use of a cache kept against other connections: prepared once.
        let statement = try cached("PRAGMA data_version")
        defer { statement.reset() }
        return try statement.step() ? statement.int64(0) : 0
    }

    public var userVersion: Int {
        get { Int((try? scalarInt("PRAGMA user_version")) ?? 0) }
    }

    public func setUserVersion(_ v: Int) throws(SQLiteError) { try execute("PRAGMA user_version=\(v)") }

    public func tableExists(_ name: String) throws(SQLiteError) -> Bool {
        try scalarInt("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?", [.text(name)]) ?? 0 > 0
    }
}

@available(*, unavailable)
extension Database: Sendable {}

/// A value bound to a statement parameter.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
}
