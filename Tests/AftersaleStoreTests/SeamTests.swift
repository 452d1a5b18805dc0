import AftersaleCore
@testable import AftersaleStore
import AftersaleSQLite
import AftersaleOutbox
import AftersaleReactor
import Testing
import Foundation
import Synchronization

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
        let (log, outbox) = try outboxWithOneCommand(scratch)
        #expect(try outbox.commands().map(\.kind) == [.reviewRequest])
        try log.database.execute("UPDATE outbox SET \(column) = '\(value)'")
        #expect { try outbox.commands() } throws: { error in
            (error as? StoreError)?.code == .unknownStoredValue && "\(error)".contains("cmd-1") && "\(error)".contains("'\(value)'")
        }
    }

    @Test("an outbox payload that is not a JSON object is an error naming the command", arguments: ["[1]", "\"text\"", "", "{\"open\": 1", "42"])
    func payloadNotAnObject(payload: String) throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let outbox = try ReactorStore(log: log)
        try log.database.prepare("""
            INSERT INTO outbox (id, customer, kind, channel, due, payload, reason, priority, status, trigger)
            VALUES ('cmd-1', 'c-1', 'review_request', 'email', 0, ?1, 'why', 'normal', 'pending', 'e1')
            """).run([.text(payload)])
        #expect { try outbox.commands() } throws: { error in
            (error as? StoreError)?.code == .unknownStoredValue && "\(error)".contains("cmd-1") && "\(error)".contains("not a JSON object")
        }
    }

    @Test("a name that only begins like a known one is not taken for it", arguments: [
        ("kind", "review_reques"), ("kind", "review_requests"), ("channel", "e"), ("priority", "highest"), ("status", "pendin"),
    ])
    func nameBytesMatchWhole(column: String, value: String) throws {
        let scratch = Scratch()
        let (log, outbox) = try outboxWithOneCommand(scratch)
        try log.database.execute("UPDATE outbox SET \(column) = '\(value)'")
        #expect { try outbox.commands() } throws: { error in
            (error as? StoreError)?.code == .unknownStoredValue && "\(error)".contains("'\(value)'")
        }
    }

    @Test("a command read back from the outbox is the command written: its payload read when asked, its text kept as stored")
    func storedCommandRoundTrip() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let outbox = try ReactorStore(log: log)
        let text = #"{"order":"o-1","skus":["sku-a","sku-b"],"value":{"amount":"12.50","currency":"EUR"},"names":["Zoë","Ōsaka \"quoted\""]}"#
        try log.database.prepare("""
            INSERT INTO outbox (id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger)
            VALUES ('cmd-1', 'c-1', 'cross_sell', 'sms', 86400000, ?1, 'why', 'high', 'cancelled', 'moot', 'e9', 'e1')
            """).run([.text(text)])
        let loaded = try #require(try outbox.commands().first)
        guard case .object(let payload) = try JSONParser.parse(text) else { Issue.record("not an object"); return }
        let made = Command(id: "cmd-1", customer: "c-1", kind: .crossSell, channel: .sms, due: Timestamp(millis: 86_400_000), payload: payload,
                           reason: "why", priority: .high, status: .cancelled(byEventID: "e9", reason: "moot"), trigger: "e1")
        #expect(loaded.storedPayloadText == text)
        #expect(loaded.order == "o-1" && loaded.skus == ["sku-a", "sku-b"])
        #expect(loaded.payload == payload)
        #expect(loaded == made && made == loaded)
        // Read on many threads at once, the one parse is shared and the same for all.
        let again = try #require(try outbox.commands().first)
        let seen = Mutex<[JSONObject]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let object = again.payload
            seen.withLock { $0.append(object) }
        }
        #expect(seen.withLock { $0 } == Array(repeating: payload, count: 8))
        // Changed, the payload is the new one, and no longer the stored text.
        var changed = loaded
        changed.payload["order"] = .string("o-2")
        #expect(changed.storedPayloadText == nil && changed.order == "o-2" && loaded.order == "o-1" && changed != loaded)
    }

    /// A log whose outbox holds one pending review request, `cmd-1`.
    func outboxWithOneCommand(_ scratch: Scratch) throws -> (EventLog, ReactorStore) {
        let log = try EventLog(path: scratch.path("log.db"))
        let outbox = try ReactorStore(log: log)
        try log.database.execute("""
            INSERT INTO outbox (id, customer, kind, channel, due, payload, reason, priority, status, trigger)
            VALUES ('cmd-1', 'c-1', 'review_request', 'email', 0, '{}', 'why', 'normal', 'pending', 'e1')
            """)
        return (log, outbox)
    }
}
