import AftersaleStore
import CSQLite
import Foundation
import Testing

@Suite("SQLite connections")
struct ConnectionTests {
    @Test("freed pages are not rewritten with zeros (Debian's SQLITE_SECURE_DELETE), deleted content on written pages still is")
    func secureDeleteFast() throws {
        let scratch = Scratch()
        let database = try Database(path: scratch.path("c.db"))
        #expect(try database.scalarInt("PRAGMA secure_delete") == 2)  // 2 = FAST
    }

    @Test("a new file gets 16 KiB pages; a file made with SQLite's 4 KiB default keeps them and is written as before")
    func pageSize() throws {
        let scratch = Scratch()
        let fresh = try Database(path: scratch.path("new.db"))
        #expect(try fresh.scalarInt("PRAGMA page_size") == Int64(Database.pageSize) && Database.pageSize == 16384)

        let path = scratch.path("old.db")
        var handle: OpaquePointer?
        #expect(sqlite3_open(path, &handle) == SQLITE_OK)
        #expect(sqlite3_exec(handle, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER) STRICT;", nil, nil, nil) == SQLITE_OK)
        sqlite3_close(handle)
        let old = try Database(path: path)
        try old.execute("INSERT INTO t VALUES (1)")
        #expect(try old.scalarInt("PRAGMA page_size") == 4096)
        #expect(try old.scalarInt("SELECT count(*) FROM t") == 1)
        #expect(try old.scalarText("PRAGMA journal_mode") == "wal")
    }

    @Test("a long writer's checkpoints run beside it on their own thread, and its own interval comes back after")
    func backgroundCheckpoints() throws {
        let scratch = Scratch()
        let path = scratch.path("c.db")
        let database = try Database(path: path)
        try database.execute("CREATE TABLE t (x BLOB NOT NULL)")
        func fileSize() -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let before = fileSize()
        try database.withBackgroundCheckpoints(everyFrames: 100) {
            #expect(try database.scalarInt("PRAGMA wal_autocheckpoint") == 0, "the writer does not checkpoint itself")
            for _ in 0..<20 {
                try database.inTransaction {
                    for _ in 0..<50 { try database.cached("INSERT INTO t VALUES (randomblob(4000))").run() }
                }
            }
            // The pages reach the database file only by a checkpoint, and only the background one runs.
            let deadline = Date().addingTimeInterval(20)
            while fileSize() < before + 20 * 50 * 4000, Date() < deadline { usleep(1000) }
            #expect(fileSize() >= before + 20 * 50 * 4000)
        }
        #expect(try database.scalarInt("PRAGMA wal_autocheckpoint") == 1000)
        #expect(try database.scalarInt("SELECT count(*) FROM t") == 1000)
    }

    @Test("at the end of a long write, every commit is checkpointed beside the writer however small the WAL")
    func checkpointAfterEveryCommit() throws {
        let scratch = Scratch()
        let path = scratch.path("c.db")
        let database = try Database(path: path)
        try database.execute("CREATE TABLE t (x BLOB NOT NULL)")
        func fileSize() -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        func insert(_ rows: Int) throws {
            try database.inTransaction {
                for _ in 0..<rows { try database.cached("INSERT INTO t VALUES (randomblob(4000))").run() }
            }
        }
        func waitForFile(atLeast size: Int) -> Bool {
            let deadline = Date().addingTimeInterval(20)
            while fileSize() < size, Date() < deadline { usleep(1000) }
            return fileSize() >= size
        }
        database.checkpointAfterEveryCommit()  // outside: nothing to do, and no harm
        let before = fileSize()
        try database.withBackgroundCheckpoints(everyFrames: 100_000) {
            try insert(500)
            usleep(50_000)
            #expect(fileSize() < before + 500 * 4000, "far below the interval: nothing checkpointed yet")
            database.checkpointAfterEveryCommit()
            #expect(waitForFile(atLeast: before + 500 * 4000), "what was committed before is checkpointed now")
            try insert(500)
            #expect(waitForFile(atLeast: before + 1000 * 4000), "and each commit after it")
        }
        #expect(try database.scalarInt("SELECT count(*) FROM t") == 1000)
        // The next long write starts with the interval again.
        let settled = fileSize()
        try database.withBackgroundCheckpoints(everyFrames: 100_000) {
            try insert(500)
            usleep(50_000)
            #expect(fileSize() < settled + 500 * 4000)
        }
    }

    @Test("a failing body leaves the connection's checkpoint interval as it was")
    func backgroundCheckpointsOnError() throws {
        struct Stop: Error {}
        let scratch = Scratch()
        let database = try Database(path: scratch.path("c.db"))
        try database.execute("PRAGMA wal_autocheckpoint=500")
        #expect(throws: Stop.self) { try database.withBackgroundCheckpoints { throw Stop() } }
        #expect(try database.scalarInt("PRAGMA wal_autocheckpoint") == 500)
    }
}
