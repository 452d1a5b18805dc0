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

        // The opener on a thread of its own, so that this one sees it wait before letting go.
        let opener = Opener(path: path)
        let thread = Thread { opener.open() }
        thread.start()
        // Waiting for a lock is the only sleep in opening a file: the opener is seen waiting once its
        // thread is asleep in the kernel (the lock is still held, so it cannot have opened yet).
        let deadline = Date().addingTimeInterval(5)
        var sawWaiting = false
        while !sawWaiting, !opener.isDone, Date() < deadline {
            sawWaiting = opener.isSleeping
            if !sawWaiting { usleep(1000) }
        }
        #expect(sawWaiting, "the opener never waited for the lock")
        #expect(!opener.isDone, "the opener finished while the lock was held")
        #expect(sqlite3_exec(other, "COMMIT", nil, nil, nil) == SQLITE_OK)
        let database = try opener.result()
        #expect(try database.scalarText("PRAGMA journal_mode") == "wal")
        #expect(try database.scalarInt("SELECT count(*) FROM t") == 0, "the other connection's table is there")
    }
}

/// Opens a database on its own thread and says whether that thread is asleep meanwhile.
private final class Opener: @unchecked Sendable {
    let path: String
    private let condition = NSCondition()
    /// The opener thread's name, which finds it among the process's threads in /proc.
    private let threadName = "open-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    private var threadID: String?
    private var outcome: Result<Database, SQLiteError>?

    init(path: String) { self.path = path }

    /// On the opener's thread.
    func open() {
        Thread.current.name = threadName
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        let id = tasks.first { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) == threadName
        }
        condition.lock()
        threadID = id
        condition.unlock()
        let opened: Result<Database, SQLiteError>
        do throws(SQLiteError) { opened = .success(try Database(path: path)) } catch { opened = .failure(error) }
        condition.lock()
        outcome = opened
        condition.broadcast()
        condition.unlock()
    }

    var isDone: Bool {
        condition.lock()
        defer { condition.unlock() }
        return outcome != nil
    }

    /// Whether the thread is in a sleep system call (nanosleep 35, clock_nanosleep 230 on x86_64;
    /// 101 and 115 on arm64): `/proc/self/task/TID/syscall` starts with the call's number.
    var isSleeping: Bool {
        condition.lock()
        let id = threadID
        condition.unlock()
        guard let id, let text = try? String(contentsOfFile: "/proc/self/task/\(id)/syscall", encoding: .utf8),
              let number = text.split(separator: " ").first.flatMap({ Int($0) }) else { return false }
        #if arch(arm64)
        return number == 101 || number == 115
        #else
        return number == 35 || number == 230
        #endif
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
