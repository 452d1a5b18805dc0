internal import CSQLite
internal import Foundation

/// Copies committed WAL frames into the database file from a thread and connection of its own,
/// while one long writer (a bulk ingest, a rebuild) goes on committing.
///
/// In WAL mode every page is written twice: once into the WAL at commit, once into the database
/// at a checkpoint, and with `synchronous=NORMAL` the checkpoint is where the file syncs happen.
/// SQLite's automatic checkpoint runs inside the committing writer's own call, so the writer
/// stops while pages are copied and flushed. Here the writer's automatic checkpoint is turned
/// off, and a PASSIVE checkpoint (which never takes the write lock and never waits) runs every
/// `interval` on this thread. Durability is unchanged: commits are as durable as before, the
/// checkpoint syncs the WAL before copying and the database after, as the automatic one does.
final class BackgroundCheckpointer: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false
    private var finished = false
    private var failure: SQLiteError?

    /// Starts checkpointing `path` every `interval` seconds until `stop()`.
    init(path: String, interval: Double) {
        let thread = Thread { [self] in run(path: path, interval: interval) }
        thread.name = "aftersale-checkpointer"
        thread.start()
    }

    private func run(path: String, interval: Double) {
        defer {
            condition.lock()
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        let database: Database
        do {
            database = try Database(path: path)
        } catch {
            record(error)
            return
        }
        while true {
            condition.lock()
            if !stopped { _ = condition.wait(until: Date(timeIntervalSinceNow: interval)) }
            let stop = stopped
            condition.unlock()
            if stop { return }
            let rc = sqlite3_wal_checkpoint_v2(database.handle, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            if rc != SQLITE_OK, rc & 0xFF != SQLITE_BUSY, rc & 0xFF != SQLITE_LOCKED {
                record(database.error(rc, sql: "PRAGMA wal_checkpoint(PASSIVE)"))
                return
            }
        }
    }

    private func record(_ error: SQLiteError) {
        condition.lock()
        failure = failure ?? error
        condition.unlock()
    }

    /// Stops and waits for the thread; throws what made a checkpoint fail (nothing committed is
    /// lost by that: the writer's own checkpoints take over).
    func stop() throws(SQLiteError) {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        let failure = failure
        condition.unlock()
        if let failure { throw failure }
    }
}

extension Database {
    /// Runs `body`, a long run of writes on this connection, with WAL checkpoints moved to a
    /// background thread (see `BackgroundCheckpointer`); the connection's automatic checkpoint
    /// interval is restored afterwards, and the next commit checkpoints what is left.
    public func withBackgroundCheckpoints<T>(interval: Double = 0.05, _ body: () throws -> T) throws -> T {
        let previous = try scalarInt("PRAGMA wal_autocheckpoint") ?? 1000
        try execute("PRAGMA wal_autocheckpoint=0")
        let checkpointer = BackgroundCheckpointer(path: path, interval: interval)
        defer { try? execute("PRAGMA wal_autocheckpoint=\(previous)") }
        let result: T
        do {
            result = try body()
        } catch {
            try? checkpointer.stop()
            throw error
        }
        try checkpointer.stop()
        return result
    }
}
