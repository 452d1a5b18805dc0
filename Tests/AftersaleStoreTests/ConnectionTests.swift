import AftersaleStore
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
