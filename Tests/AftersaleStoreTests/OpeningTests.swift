import AftersaleStore
import AftersaleSQLite
import CSQLite
import Foundation
import Testing

@Suite("Opening a database")
struct OpeningTests {
    @Test("a new file whose write lock another connection holds opens once the lock is let go, not 'database is locked'")
    func waitsForAnotherCreator() throws {
        let scratch = Scratch()
        let path = scratch.path("new.db")
        // What a second process creating the same file holds: the write lock, before WAL mode.
        var other: OpaquePointer?
        #expect(sqlite3_open(path, &other) == SQLITE_OK)
        defer { sqlite3_close(other) }
        #expect(sqlite3_exec(other, "BEGIN IMMEDIATE; CREATE TABLE t (x INTEGER);", nil, nil, nil) == SQLITE_OK)

        // The opener on a thread of its own. It says when it is about to open; from then on the lock
        // is held for a while. Opening an unlocked file takes well under a millisecond, so an opener
        // that is still not done after that while can only be waiting for the lock; one that does not
        // wait ends at once with "database is locked" and fails the check below. (This used to look
        // for the thread asleep in /proc/self/task/*/syscall, which some sandboxes, CI's among them,
        // do not report.)
        let opener = Opener(path: path)
        let thread = Thread { opener.open() }
        thread.start()
        opener.waitUntilOpening()
        usleep(300_000)
        #expect(!opener.isDone, "the opener finished while the lock was held: \(opener.outcomeText)")
        #expect(sqlite3_exec(other, "COMMIT", nil, nil, nil) == SQLITE_OK)
        let database = try opener.result()
        #expect(try database.scalarText("PRAGMA journal_mode") == "wal")
        #expect(try database.scalarInt("SELECT count(*) FROM t") == 0, "the other connection's table is there")
    }
}

/// Opens a database on its own thread, saying when it starts and how it ended.
private final class Opener: @unchecked Sendable {
    let path: String
    private let condition = NSCondition()
    private var opening = false
    private var outcome: Result<Database, SQLiteError>?

    init(path: String) { self.path = path }

    /// On the opener's thread.
    func open() {
        condition.lock()
        opening = true
        condition.broadcast()
        condition.unlock()
        let opened: Result<Database, SQLiteError>
        do throws(SQLiteError) { opened = .success(try Database(path: path)) } catch { opened = .failure(error) }
        condition.lock()
        outcome = opened
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilOpening() {
        condition.lock()
        while !opening { condition.wait() }
        condition.unlock()
    }

    var isDone: Bool {
        condition.lock()
        defer { condition.unlock() }
        return outcome != nil
    }

    var outcomeText: String {
        condition.lock()
        defer { condition.unlock() }
        switch outcome {
        case .none: return "not done"
        case .success: return "opened"
        case .failure(let error): return "\(error)"
        }
    }

    /// Waits for the opening to end; the database, or the error it ended with.
    func result() throws(SQLiteError) -> Database {
        condition.lock()
        while outcome == nil { condition.wait() }
        let outcome = self.outcome!
        condition.unlock()
        return try outcome.get()
    }
}
