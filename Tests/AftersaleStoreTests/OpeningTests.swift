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
        nonisolated(unsafe) let holder = other
        let committed = DispatchSemaphore(value: 0)
        Thread {
            usleep(200_000)
            sqlite3_exec(holder, "COMMIT", nil, nil, nil)
            committed.signal()
        }.start()
        defer { committed.wait() }  // before the other connection is closed
        let database = try Database(path: path)
        #expect(try database.scalarText("PRAGMA journal_mode") == "wal")
        #expect(try database.scalarInt("SELECT count(*) FROM t") == 0, "the other connection's table is there")
    }
}
