import AftersaleCore
@testable import AftersaleStore
import AftersaleSQLite
import AftersaleOutbox
import AftersaleReactor
import Testing

/// What the storage layer promises at its seams: its own errors, a cache that follows rollbacks,
/// and an outbox that never guesses.
@Suite("Storage seams")
struct SeamTests {
    @Test("a transaction rolled back around an append undoes the versions it handed out, without the caller's help")
    func rollbackForgetsVersions() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        #expect(try log.append([event("e1")], recorded: testClock) == [.appended(position: 1, version: 1)])
        struct Abort: Error {}
        // As the outbox's dispatch does: the append succeeds inside a transaction that then fails.
        #expect(throws: Abort.self) {
            try log.database.inTransaction {
                #expect(try log.appendInTransaction([event("e2"), event("e3", customer: "c-new")], recorded: testClock)
                    == [.appended(position: 2, version: 2), .appended(position: 3, version: 1)])
                throw Abort()
            }
        }
        // The same events again get the versions and positions of a log that never saw them.
        #expect(try log.append([event("e2"), event("e3", customer: "c-new")], recorded: testClock)
            == [.appended(position: 2, version: 2), .appended(position: 3, version: 1)])
        #expect(try log.currentVersion(of: "c-1") == 2 && log.stream(of: "c-new").map(\.version) == [1])
    }

    @Test("a file from a later build is refused with an error a caller can match")
    func newerSchemaIsAStoreError() throws {
        let scratch = Scratch()
        let path = scratch.path("log.db")
        try EventLog(path: path).database.execute("PRAGMA user_version=\(EventLog.schemaVersion + 1)")
        #expect { try EventLog(path: path) } throws: { error in
            (error as? StoreError)?.code == .newerSchema && "\(error)".contains("newer than this build's")
        }
    }

    @Test("an event type this build does not know is a StoreError naming its position, not an SQLite failure")
    func unknownEventType() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        _ = try log.append([event("e1"), event("e2")], recorded: testClock)
        try log.database.execute("UPDATE events SET type = 'loyalty.tier_changed' WHERE position = 2")
        #expect { try log.read { _ in } } throws: { error in
            (error as? StoreError)?.code == .unknownStoredValue && "\(error)".contains("'loyalty.tier_changed' at position 2")
        }
    }

    @Test("an outbox row with a kind, channel, priority or status this build does not know is an error, never a guess", arguments: [
        ("kind", "birthday_card"), ("channel", "carrier_pigeon"), ("priority", "urgent"), ("status", "parked"),
    ])
    func unknownOutboxValue(column: String, value: String) throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let outbox = try ReactorStore(log: log)
        try log.database.execute("""
            INSERT INTO outbox (id, customer, kind, channel, due, payload, reason, priority, status, trigger)
            VALUES ('cmd-1', 'c-1', 'review_request', 'email', 0, '{}', 'why', 'normal', 'pending', 'e1')
            """)
        #expect(try outbox.commands().map(\.kind) == [.reviewRequest])
        try log.database.execute("UPDATE outbox SET \(column) = '\(value)'")
        #expect { try outbox.commands() } throws: { error in
            (error as? StoreError)?.code == .unknownStoredValue && "\(error)".contains("cmd-1") && "\(error)".contains("'\(value)'")
        }
    }
}
