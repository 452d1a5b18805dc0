import AftersaleStore
@testable import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import CSQLite
import Foundation
import Testing

@Suite("SQLite connections")
struct ConnectionTests {
    @Test("a writer that waits for its turn gets it after the transaction under way, however fast another commits back to back")
    func writersTakeTurns() throws {
        let scratch = Scratch()
        let path = scratch.path("turns.db")
        let turns = WriterTurns()
        let busy = try Database(path: path)
        try busy.execute("CREATE TABLE t (x INTEGER) STRICT")
        busy.writerTurns = turns
        let waiting = try Database(path: path)
        waiting.writerTurns = turns
        // One writer commits back to back (as the service's intake under load); the other asks once.
        final class Progress: @unchecked Sendable {
            let lock = NSLock()
            var committed = 0
            var stop = false
        }
        let progress = Progress()
        let done = DispatchSemaphore(value: 0)
        let writer = Unchecked(busy)
        Thread {
            for i in 0..<20_000 {
                if progress.lock.withLock({ progress.stop }) { break }
                try? writer.value.inTransaction {
                    try writer.value.execute("INSERT INTO t VALUES (\(i))")
                    usleep(300)
                }
                progress.lock.withLock { progress.committed += 1 }
            }
            done.signal()
        }.start()
        while progress.lock.withLock({ progress.committed }) < 20 { usleep(1_000) }
        let asked = progress.lock.withLock { progress.committed }
        try waiting.inTransaction { try waiting.execute("INSERT INTO t VALUES (-1)") }
        let got = progress.lock.withLock { progress.committed }
        progress.lock.withLock { progress.stop = true }
        done.wait()
        // The transaction under way when it asked, and the one that may have taken its turn first.
        #expect(got - asked <= 2, "the other writer committed \(got - asked) times while this one waited")
    }

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
        let file = try BlobFile()
        let database = file.database
        let before = file.size
        try database.withBackgroundCheckpoints(everyFrames: 100) {
            #expect(try database.scalarInt("PRAGMA wal_autocheckpoint") == 0, "the writer does not checkpoint itself")
            for _ in 0..<20 { try file.insert(50) }
            #expect(database.backgroundCheckpointer?.checkpointsAsked ?? 0 > 0, "past the interval, checkpoints are asked for")
            // The pages reach the database file only by a checkpoint, and only the background one runs.
            // At least the first one's 100 frames (1.6 MB of pages) get there while the writer is still
            // inside: the last commits may stay in the WAL, below the interval, until the writer is done.
            #expect(file.waitForSize(atLeast: before + 1_000_000))
        }
        #expect(try database.scalarInt("PRAGMA wal_autocheckpoint") == 1000)
        #expect(try database.scalarInt("SELECT count(*) FROM t") == 1000)
    }

    @Test("a writer that never stops catches its WAL up itself now and then, so the WAL starts over instead of growing")
    func writerCatchesUp() throws {
        func walFrames(catchUp: Int32?) throws -> (wal: Int, writerCheckpoints: Int) {
            let file = try BlobFile()
            let database = file.database
            var runs = 0
            // The background thread never runs (its interval is never reached), so nothing is
            // copied beside the writer: it catches up at its limit.
            try database.withBackgroundCheckpoints(everyFrames: 1_000_000, writerCatchesUpAt: catchUp, writerMustCatchUpAt: catchUp) {
                for _ in 0..<40 { try file.insert(25) }
                runs = database.backgroundCheckpointer?.writerCheckpointsRun ?? -1
            }
            let wal = (try? FileManager.default.attributesOfItem(atPath: database.path + "-wal")[.size] as? Int) ?? 0
            #expect(try database.scalarInt("SELECT count(*) FROM t") == 1000)
            return (wal, runs)
        }
        let never = try walFrames(catchUp: nil)
        let caughtUp = try walFrames(catchUp: 100)
        #expect(never.writerCheckpoints == 0)
        #expect(caughtUp.writerCheckpoints > 0)
        // 1,000 rows of 4,000 bytes (4 MB): without a checkpoint the WAL holds them all; started
        // over every 100 or so frames, the file stays a fraction of that.
        #expect(never.wal > 4_000_000, "\(never)")
        #expect(caughtUp.wal < never.wal / 2, "\(caughtUp) against \(never)")
    }

    @Test("a long WAL is copied beside the writer: the writer copies it itself only once little is left, or at the limit")
    func writerLeavesLongWALToBackground() throws {
        let scratch = Scratch()
        // Asked for nothing (its threshold is never reached): only the policy is looked at.
        let checkpointer = BackgroundCheckpointer(path: scratch.path("w.db"), threshold: Int32.max, writerCatchesUpAt: 1_000, writerMustCatchUpAt: 8_000)
        defer { checkpointer.stop() }
        #expect(!checkpointer.writerShouldCatchUp(frames: 999), "short: nothing to do")
        #expect(!checkpointer.writerShouldCatchUp(frames: 5_000), "nothing copied yet: left to the background thread")
        checkpointer.noteCheckpoint(log: 5_000, copied: 4_800)
        #expect(checkpointer.writerShouldCatchUp(frames: 5_000), "200 frames left: the writer copies them and the WAL starts over")
        #expect(checkpointer.writerShouldCatchUp(frames: 5_050), "250 left (a quarter of 1,000)")
        #expect(!checkpointer.writerShouldCatchUp(frames: 6_000), "1,200 left: still the background thread's")
        #expect(checkpointer.writerShouldCatchUp(frames: 8_000), "at the limit, however much is left")
        // The WAL started over since that checkpoint: what it copied then says nothing about now.
        #expect(!checkpointer.writerShouldCatchUp(frames: 1_500))
        checkpointer.noteCheckpoint(log: 1_500, copied: 1_500)
        #expect(checkpointer.writerShouldCatchUp(frames: 1_600))
        // With no limit given, four times the catch-up length.
        let defaulted = BackgroundCheckpointer(path: scratch.path("d.db"), threshold: Int32.max, writerCatchesUpAt: 1_000)
        defer { defaulted.stop() }
        #expect(!defaulted.writerShouldCatchUp(frames: 3_999))
        #expect(defaulted.writerShouldCatchUp(frames: 4_000))
    }

    @Test("at the end of a long write, every commit is checkpointed beside the writer however small the WAL")
    func checkpointAfterEveryCommit() throws {
        let file = try BlobFile()
        let database = file.database
        database.checkpointAfterEveryCommit()  // outside: nothing to do, and no harm
        let before = file.size
        try database.withBackgroundCheckpoints(everyFrames: 100_000) {
            try file.insert(500)
            // A checkpoint runs only when asked, and the commit asks (or not) before it returns: so
            // "not asked" is known now, where "none ran" could only be hoped for after a wait.
            #expect(database.backgroundCheckpointer?.checkpointsAsked == 0, "far below the interval: no checkpoint asked for")
            #expect(file.size < before + 500 * 4000, "nothing checkpointed yet")
            database.checkpointAfterEveryCommit()
            #expect(file.waitForSize(atLeast: before + 500 * 4000), "what was committed before is checkpointed now")
            try file.insert(500)
            #expect(file.waitForSize(atLeast: before + 1000 * 4000), "and each commit after it")
        }
        #expect(try database.scalarInt("SELECT count(*) FROM t") == 1000)
        // The next long write starts with the interval again.
        let settled = file.size
        try database.withBackgroundCheckpoints(everyFrames: 100_000) {
            try file.insert(500)
            #expect(database.backgroundCheckpointer?.checkpointsAsked == 0, "not after every commit any more")
            #expect(file.size < settled + 500 * 4000)
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

/// A database in a scratch directory with one table of 4,000-byte blobs, for watching
/// checkpoints carry its pages into the file.
private struct BlobFile {
    let scratch = Scratch()
    let path: String
    let database: Database

    init() throws {
        path = scratch.path("c.db")
        database = try Database(path: path)
        try database.execute("CREATE TABLE t (x BLOB NOT NULL)")
    }

    /// The database file's size in bytes (the WAL not counted).
    var size: Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }

    /// Inserts `rows` blobs in one transaction.
    func insert(_ rows: Int) throws {
        try database.inTransaction {
            for _ in 0..<rows { try database.cached("INSERT INTO t VALUES (randomblob(4000))").run() }
        }
    }

    /// Waits up to 20 s for the file to reach `bytes`; whether it did.
    func waitForSize(atLeast bytes: Int) -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while size < bytes, Date() < deadline { usleep(1000) }
        return size >= bytes
    }
}

/// Hands a value to the one thread that uses it from then on.
final class Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

@Suite("Texts bound to statements")
struct BoundTextTests {
    @Test("a statement bound again and again gives each row its own text: longer, shorter, empty, non-ASCII, past the statement's own buffers")
    func rowsKeepTheirTexts() throws {
        let scratch = Scratch()
        let database = try Database(path: scratch.path("t.db"))
        try database.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, a TEXT, b TEXT, c TEXT) STRICT")
        func text(_ n: Int, _ column: Int) -> String {
            switch (n + column) % 6 {
            case 0: return ""
            case 1: return "x"
            case 2: return String(repeating: "ab", count: n % 97)
            case 3: return "zoë-\(n)-€-漢字"
            case 4: return String(repeating: "long-", count: 200 + n % 50)  // past `Statement.ownedTextLimit`
            default: return String(repeating: "y", count: 1 + n % 1_100)
            }
        }
        let insert = try database.cached("INSERT INTO t (n, a, b, c) VALUES (?1, ?2, ?3, ?4)")
        try database.inTransaction {
            for n in 0..<600 {
                insert.bind(Int64(n), at: 1)
                insert.bind(text(n, 1), at: 2)
                insert.bind(text(n, 2), at: 3)
                insert.bind(optional: n % 7 == 0 ? nil : text(n, 3), at: 4)
                try insert.step()
                insert.reset()
            }
        }
        let read = try database.prepare("SELECT n, a, b, c FROM t ORDER BY n")
        var rows = 0
        while try read.step() {
            let n = read.int(0)
            #expect(read.text(1) == text(n, 1), "row \(n), a")
            #expect(read.text(2) == text(n, 2), "row \(n), b")
            #expect(read.text(3) == (n % 7 == 0 ? nil : text(n, 3)), "row \(n), c")
            rows += 1
        }
        #expect(rows == 600)
        // A query's text parameter, bound again between runs of the statement.
        let find = try database.prepare("SELECT count(*) FROM t WHERE a = ?1")
        for n in [2, 3, 4, 5] {
            find.bind(text(n, 1), at: 1)
            #expect(try find.step() && find.int(0) >= 1, "a of row \(n)")
            find.reset()
        }
    }
}
