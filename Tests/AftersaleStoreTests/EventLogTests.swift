import AftersaleCore
@testable import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import ShopSimulator
import Testing

@Suite("The event log")
struct EventLogTests {
    @Test("an order's placement names its order off the facts, as its data does; without facts, off the data; other types name none")
    func placedOrder() throws {
        let at = try Timestamp.parse("2025-03-01T10:15:00Z")
        let line = JSONObject(["sku": .string("A"), "quantity": .integer(1), "price": .string("12.50")])
        let data = JSONObject(["order": .string("o-\u{e9}-7"), "total": .string("12.50"), "currency": .string("EUR"),
                               "lines": .array([.object(line)])])
        let placed = Event(id: "e-1", type: .orderPlaced, customer: "c-1", at: at, data: data)
        let encoded = EncodedEvent(placed)
        #expect(!encoded.facts.isEmpty)
        #expect(encoded.placedOrder == "o-\u{e9}-7")
        // Facts that do not say (none stored): the data does.
        let bare = EncodedEvent(id: "e-1", type: .orderPlaced, customer: "c-1", at: at, schema: 1, data: encoded.data, meta: nil, facts: [])
        #expect(bare.placedOrder == "o-\u{e9}-7")
        let cancelled = EncodedEvent(Event(id: "e-2", type: .orderCancelled, customer: "c-1", at: at, data: JSONObject(["order": .string("o-1")])))
        #expect(cancelled.placedOrder == nil)
    }

    @Test("an encoded event keeps data, meta and facts in one buffer: made from strings or from bytes, it reads back the same")
    func encodedEventTexts() throws {
        let at = try Timestamp.parse("2025-03-01T10:15:00Z")
        let data = #"{"order":"o-1","note":"Grüße"}"#
        let meta = #"{"source":"shop"}"#
        let facts: [UInt8] = [3, 0, 7, 255, 1]
        let fromStrings = EncodedEvent(id: "e-1", type: .orderCancelled, customer: "c-1", at: at, schema: 1, data: data, meta: meta, facts: facts)
        let fromBytes = Array(data.utf8).withUnsafeBufferPointer { d in
            Array(meta.utf8).withUnsafeBufferPointer { m in
                facts.withUnsafeBytes { f in
                    EncodedEvent(id: "e-1", type: .orderCancelled, customer: "c-1", at: at, schema: 1, dataUTF8: d, metaUTF8: m, facts: f)
                }
            }
        }
        #expect(fromStrings == fromBytes)
        #expect(fromBytes.data == data && fromBytes.meta == meta && fromBytes.facts == facts)
        #expect(fromBytes.dataUTF8Count == data.utf8.count && fromBytes.metaUTF8Count == meta.utf8.count)
        fromBytes.withTexts { d, m, f in
            #expect(Array(d) == Array(data.utf8) && m.map(Array.init) == Array(meta.utf8) && Array(f) == facts)
        }

        // No meta is not an empty meta; empty data and facts are kept as empty.
        let bare = EncodedEvent(id: "e-1", type: .orderCancelled, customer: "c-1", at: at, schema: 1, data: "", meta: nil, facts: [])
        #expect(bare.meta == nil && bare.metaUTF8Count == nil && bare.data.isEmpty && bare.facts.isEmpty)
        var emptyMeta = bare
        emptyMeta.meta = ""
        #expect(emptyMeta != bare && emptyMeta.meta == "" && emptyMeta.metaUTF8Count == 0)

        // Each text set alone leaves the others as they were.
        var changed = fromStrings
        changed.data = "{}"
        #expect(changed.data == "{}" && changed.meta == meta && changed.facts == facts)
        changed.meta = nil
        #expect(changed.data == "{}" && changed.meta == nil && changed.facts == facts)
        changed.facts = [9]
        #expect(changed.data == "{}" && changed.meta == nil && changed.facts == [9])
        changed.data = data
        changed.meta = meta
        changed.facts = facts
        #expect(changed == fromStrings)
    }

    @Test("orders' customers are remembered many to a statement; an order remembered before, or twice in one call, keeps its first customer")
    func rememberedOrders() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("o.db"))
        try log.withWriteTransaction { try log.rememberOrders([(order: "o-5", customer: "first"), (order: "o-70", customer: "first")]) }
        // 100 orders (three statements of 32 and four alone), two of them known, one given twice.
        var orders = (0..<99).map { (order: "o-\($0)", customer: "c-\($0)") }
        orders.insert((order: "o-40", customer: "again"), at: 41)
        try log.withWriteTransaction { try log.rememberOrders(orders) }
        for n in 0..<99 {
            let expected = n == 5 || n == 70 ? "first" : "c-\(n)"
            #expect(try log.customer(ofOrder: "o-\(n)") == expected)
        }
        #expect(try log.customer(ofOrder: "o-99") == nil)
    }

    @Test("the latest customer event's time is kept as events come, in any order, and found once in a log from before")
    func latestEventTime() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("a.db"))
        #expect(try log.latestEventTime() == nil)
        _ = try log.append([event("e1", at: "2025-03-01T10:00:00Z"), event("e2", customer: "c-2", at: "2025-05-01T10:00:00Z")], recorded: testClock)
        #expect(try log.latestEventTime() == Timestamp.parse("2025-05-01T10:00:00Z"))
        // Earlier, a duplicate, and the system's stream (a model fitted later) move nothing.
        _ = try log.append([event("e3", at: "2025-04-01T10:00:00Z"), event("e2", customer: "c-2", at: "2025-05-01T10:00:00Z")], recorded: testClock)
        _ = try log.append([event("m1", .modelFitted, customer: EventType.systemCustomer, at: "2025-09-01T00:00:00Z", data: JSONObject())],
                           recorded: testClock)
        #expect(try log.latestEventTime() == Timestamp.parse("2025-05-01T10:00:00Z"))
        try log.bulkLoad { load in _ = try load.append([event("e4", customer: "c-3", at: "2025-06-02T08:00:00Z")], recorded: testClock) }
        #expect(try log.latestEventTime() == Timestamp.parse("2025-06-02T08:00:00Z"))

        // A log written before the time was kept: found by a scan, then kept from there on.
        try log.database.execute("DELETE FROM log_settings WHERE name = 'latest_at'")
        let reopened = try EventLog(path: scratch.path("a.db"))
        #expect(try reopened.latestEventTime() == Timestamp.parse("2025-06-02T08:00:00Z"))
        _ = try reopened.append([event("e5", at: "2025-07-01T00:00:00Z")], recorded: testClock)
        #expect(try reopened.database.scalarInt("SELECT value FROM log_settings WHERE name = 'latest_at'")
                    == Timestamp.parse("2025-07-01T00:00:00Z").millis)
        #expect(try reopened.latestEventTime() == Timestamp.parse("2025-07-01T00:00:00Z"))
    }

    @Test("while a writer holds its events' facts, the latest time is stored with them, and every reader sees it meanwhile; after a kill, the next writer stores it")
    func latestEventTimeWhileFactsHeld() throws {
        let scratch = Scratch()
        let writer = try EventLog(path: scratch.path("t.db"))
        writer.holdFactsAcrossAppends(atMost: 1_000)
        _ = try writer.append([event("e1", at: "2025-03-01T10:00:00Z")], recorded: testClock)
        try writer.storeHeldFacts()
        func stored() throws -> Int64? { try writer.database.scalarInt("SELECT value FROM log_settings WHERE name = 'latest_at'") }
        #expect(try stored() == Timestamp.parse("2025-03-01T10:00:00Z").millis)
        // Held: the row does not move with each commit; the writer and another reader see the time all the same.
        _ = try writer.append([event("e2", customer: "c-2", at: "2025-05-01T10:00:00Z")], recorded: testClock)
        _ = try writer.append([event("e3", at: "2025-04-01T10:00:00Z")], recorded: testClock)
        #expect(try stored() == Timestamp.parse("2025-03-01T10:00:00Z").millis)
        let reader = try EventLog(database: try Database(path: scratch.path("t.db"), readOnly: true))
        #expect(try reader.latestEventTime() == Timestamp.parse("2025-05-01T10:00:00Z"))
        #expect(try writer.latestEventTime() == Timestamp.parse("2025-05-01T10:00:00Z"))
        // Stored with the facts.
        try writer.storeHeldFacts()
        #expect(try stored() == Timestamp.parse("2025-05-01T10:00:00Z").millis)
        // Held again, then the writer is gone without storing them (killed): a reader still sees the
        // time, and the next writer stores it as it derives their facts.
        _ = try writer.append([event("e4", customer: "c-3", at: "2025-06-02T08:00:00Z")], recorded: testClock)
        #expect(try stored() == Timestamp.parse("2025-05-01T10:00:00Z").millis)
        #expect(try reader.latestEventTime() == Timestamp.parse("2025-06-02T08:00:00Z"))
        let next = try EventLog(path: scratch.path("t.db"))
        _ = try next.append([event("e5", customer: "c-4", at: "2025-01-01T00:00:00Z")], recorded: testClock)
        #expect(try next.database.scalarInt("SELECT value FROM log_settings WHERE name = 'latest_at'") == Timestamp.parse("2025-06-02T08:00:00Z").millis)
        #expect(try next.database.scalarInt("SELECT count(*) FROM log_settings WHERE name = 'facts_from'") == 0)
        #expect(try reader.latestEventTime() == Timestamp.parse("2025-06-02T08:00:00Z"))
    }

    @Test("facts held by one connection are read by another off the board, as the JSON gives them; stored or rolled back, the board lets them go")
    func heldFactsBoard() throws {
        let scratch = Scratch()
        let board = HeldFactsBoard()
        let writer = try EventLog(path: scratch.path("b.db"))
        writer.holdFactsAcrossAppends(atMost: 1_000)
        writer.heldFactsBoard = board
        let placed = (1...6).map { event("e\($0)", customer: "c-\($0 % 3)") }
        _ = try writer.append(Array(placed[0..<4]), recorded: testClock)
        writer.postHeldFacts()
        _ = try writer.append(Array(placed[4...]), recorded: testClock)
        writer.postHeldFacts()
        #expect(writer.heldFactsCount == 6 && board.count == 6)
        func facts(_ log: EventLog) throws -> [[UInt8]] {
            var all: [[UInt8]] = []
            try log.readFacts(after: 0) { _, _, _, bytes in all.append(Array(bytes)) }
            return all
        }
        let plain = try EventLog(database: try Database(path: scratch.path("b.db"), readOnly: true))
        let boarded = try EventLog(database: try Database(path: scratch.path("b.db"), readOnly: true))
        boarded.heldFactsBoard = board
        // Read-only, as the service's readers open it: a writable connection stores the held facts it finds.
        let derived = try facts(plain)
        #expect(derived.count == 6 && writer.heldFactsCount == 6)
        #expect(try facts(boarded) == derived)
        for position in 1...6 { #expect(board.facts(at: Int64(position)) == derived[position - 1]) }
        #expect(board.facts(at: 7) == nil && board.facts(at: 0) == nil)
        // The reader takes what the board says for a held event (here made up, to tell it from the JSON).
        var madeUp = HeldFacts()
        madeUp.start = 1
        madeUp.append(stream: 1, version: 1, position: 2, facts: [9, 9, 9])
        let other = HeldFactsBoard()
        other.post(madeUp)
        let misled = try EventLog(database: try Database(path: scratch.path("b.db"), readOnly: true))
        misled.heldFactsBoard = other
        #expect(try facts(misled)[1] == [9, 9, 9] && facts(misled)[0] == derived[0])
        // A rolled-back append lets go of what the writer held, committed or not: the board follows.
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try writer.database.inTransaction {
                _ = try writer.appendInTransaction([event("e7", customer: "c-9")], recorded: testClock)
                throw Abort()
            }
        }
        writer.postHeldFacts()
        #expect(board.count == 0)
        #expect(try facts(boarded) == derived)
        // Stored, the facts are read from the table, and the board holds the events held since.
        _ = try writer.append([event("e8", customer: "c-1")], recorded: testClock)
        writer.postHeldFacts()
        #expect(board.count == 1 && board.facts(at: 7) != nil)
        try writer.storeHeldFacts()
        writer.postHeldFacts()
        #expect(board.count == 0)
        #expect(try facts(boarded) == facts(plain) && facts(plain).count == 7)
    }

    @Test("a bulk load keeps its customers' stream heads past the connection's own limit, which comes back after")
    func bulkLoadKeepsStreamHeads() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("h.db"))
        log.maxCachedStreams = 2
        try log.bulkLoad { load in
            #expect(log.maxCachedStreams == 2_000_000)
            _ = try load.append((1...10).map { event("e\($0)", customer: "c-\($0)") }, recorded: testClock)
            let second = try load.append((11...20).map { event("e\($0)", customer: "c-\($0 - 10)") }, recorded: testClock)
            #expect(second == (11...20).map { AppendOutcome.appended(position: Int64($0), version: 2) })
            // Ten customers, past the connection's two: their heads were not forgotten, which would
            // first have merged the facts held.
            #expect(log.heldFactsCount == 20)
        }
        #expect(log.maxCachedStreams == 2)
        #expect(log.heldFactsCount == 0)
        #expect(try log.database.scalarInt("SELECT count(*) FROM stream_facts") == 20)
    }

    @Test("positions are gapless and versions count per customer, through duplicates and conflicts")
    func gaplessPositions() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let first = try log.append([event("e1"), event("e2", customer: "c-2"), event("e3")], recorded: testClock)
        #expect(first == [.appended(position: 1, version: 1), .appended(position: 2, version: 1), .appended(position: 3, version: 2)])

        var changed = event("e2", customer: "c-2")
        changed.data = #"{"currency":"EUR","lines":[],"order":"o-e2","total":"99.00"}"#
        let second = try log.append([event("e1"), changed, event("e4", customer: "c-2")], recorded: testClock)
        #expect(second == [.duplicate(position: 1), .conflict(position: 2), .appended(position: 4, version: 2)])

        var positions: [Int64] = []
        try log.read { positions.append($0.position) }
        #expect(positions == [1, 2, 3, 4])
        #expect(try log.head() == 4)
        #expect(try log.stream(of: "c-2").map(\.event.id) == ["e2", "e4"])
        #expect(try log.stream(of: "c-2").first?.event.data["total"] == .string("10.00"), "a conflict never overwrites")
    }

    @Test("a re-sent event with reordered keys is a duplicate, not a conflict")
    func keyOrderIsNotContent() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let validator = EventValidator(now: testClock)
        let a = try validator.decode(line: #"{"id":"x","type":"review.posted","customer":"c","at":"2025-01-01T12:00:00+02:00","data":{"review":"r","sku":"s","rating":5}}"#)
        let b = try validator.decode(line: #"{"data":{"rating":5,"sku":"s","review":"r"},"at":"2025-01-01T10:00:00Z","customer":"c","type":"review.posted","id":"x","meta":{"retry":2}}"#)
        #expect(try log.append([EncodedEvent(a)], recorded: testClock) == [.appended(position: 1, version: 1)])
        #expect(try log.append([EncodedEvent(b)], recorded: testClock) == [.duplicate(position: 1)])
    }

    @Test("a stale writer gets a conflict naming stream, expected and actual version, and appends nothing")
    func optimisticConcurrency() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        _ = try log.append([event("a1"), event("a2")], expected: ["c-1": .noStream], recorded: testClock)
        let conflict = #expect(throws: VersionConflict.self) {
            try log.append([event("a3"), event("b1", customer: "c-2")], expected: ["c-1": .exactly(1)], recorded: testClock)
        }
        #expect(conflict == VersionConflict(stream: "c-1", expected: .exactly(1), actual: 2))
        #expect(conflict?.description.contains("'c-1'") == true && conflict?.description.contains("actual version 2") == true)
        #expect(try log.head() == 2, "the whole batch was rolled back")
        #expect(throws: VersionConflict.self) { try log.append([event("a3")], expected: ["c-1": .noStream], recorded: testClock) }
        #expect(try log.append([event("a3")], expected: ["c-1": .exactly(2)], recorded: testClock) == [.appended(position: 3, version: 3)])
    }

    @Test("two connections writing one file keep versions right")
    func twoWriters() throws {
        let scratch = Scratch()
        let one = try EventLog(path: scratch.path("log.db"))
        let two = try EventLog(path: scratch.path("log.db"))
        _ = try one.append([event("1")], recorded: testClock)
        _ = try two.append([event("2")], recorded: testClock)
        #expect(try one.append([event("3")], recorded: testClock) == [.appended(position: 3, version: 3)])
        #expect(try one.stream(of: "c-1").map(\.version) == [1, 2, 3])
        // A customer the other connection made: the first knows every stream no longer.
        _ = try two.append([event("4", customer: "c-2")], recorded: testClock)
        #expect(try one.append([event("5", customer: "c-2")], recorded: testClock) == [.appended(position: 5, version: 2)])
    }

    @Test("a bulk load holds facts in memory; readers and a second writer still see every event, and versions stay unique")
    func pendingFacts() throws {
        let scratch = Scratch()
        let bulk = try EventLog(path: scratch.path("log.db"))
        bulk.defersFactsMerge = true
        _ = try bulk.append([event("1"), event("2", customer: "c-2")], recorded: testClock)
        _ = try bulk.append([event("3")], recorded: testClock)
        #expect(try bulk.database.scalarInt("SELECT count(*) FROM stream_facts") == 0)
        #expect(try bulk.database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_from'") == 1)
        // A reader sees the whole stream while its facts are held, and gets the facts from the JSON.
        let reader = try EventLog(database: try Database(path: scratch.path("log.db"), readOnly: true))
        #expect(try reader.stream(of: "c-1").map(\.version) == [1, 2])
        #expect(try reader.lastEvent(of: .orderPlaced, in: "c-1")?.event.id == "3")
        #expect(try reader.lastEvent(of: .orderPlaced, in: "c-1", through: 2)?.event.id == "1")
        var read: [(Int64, Int64, String, [UInt8])] = []
        try reader.readFacts(after: 0) { read.append(($0, $1, $2, Array($3))) }
        #expect(read.map(\.0) == [1, 2, 3] && read.map(\.1) == [1, 2, 1] && read.map(\.2) == ["c-1", "c-2", "c-1"])
        #expect(read.map(\.3) == [event("1").facts, event("2", customer: "c-2").facts, event("3").facts])

        // A second writer derives and stores them before it reads versions.
        let other = try EventLog(path: scratch.path("log.db"))
        #expect(try other.database.scalarInt("SELECT count(*) FROM stream_facts") == 3, "derived when a writer opens")
        #expect(try other.database.scalarInt("SELECT count(*) FROM log_settings WHERE name = 'facts_from'") == 0)
        #expect(try other.append([event("4")], recorded: testClock) == [.appended(position: 4, version: 3)])
        // And the bulk writer, seeing another connection wrote, lets its facts go and reads versions again.
        #expect(try bulk.append([event("5")], recorded: testClock) == [.appended(position: 5, version: 4)])
        #expect(try bulk.database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_from'") == 5)
        bulk.factsMergeInterval = 1
        _ = try bulk.append([event("6", customer: "c-2")], recorded: testClock)
        #expect(try bulk.database.scalarInt("SELECT count(*) FROM log_settings WHERE name = 'facts_from'") == 0, "merged at the interval")
        #expect(try bulk.database.scalarInt("SELECT count(*) FROM stream_facts") == 6)
        #expect(try reader.stream(of: "c-1").map(\.event.id) == ["1", "3", "4", "5"])

        // A full cache of stream heads starts over without losing a version.
        bulk.factsMergeInterval = 1_000_000
        bulk.maxCachedStreams = 1
        _ = try bulk.append([event("7", customer: "c-3"), event("8", customer: "c-4")], recorded: testClock)
        #expect(try bulk.append([event("9", customer: "c-2"), event("10")], recorded: testClock)
            == [.appended(position: 9, version: 3), .appended(position: 10, version: 5)])
        #expect(try bulk.append([event("11", customer: "c-3")], recorded: testClock) == [.appended(position: 11, version: 2)])
        // A connection that only reads the log and writes elsewhere does not make the bulk writer let go.
        try other.database.execute("CREATE TABLE elsewhere (x INTEGER)")
        _ = try bulk.append([event("12", customer: "c-4")], recorded: testClock)
        #expect(try bulk.database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_from'") == 11)
        try bulk.database.inTransaction { try bulk.mergePendingFacts() }
        #expect(try reader.stream(of: "c-4").map(\.event.id) == ["8", "12"])
        #expect(try bulk.database.scalarInt("SELECT count(*) FROM stream_facts") == 12)
    }

    @Test("facts a killed bulk load held are derived from the JSON by the next writer, the same as if they had been stored")
    func factsOfAKilledBulkLoad() throws {
        let scratch = Scratch()
        let events = (1...300).map { i in
            event("e\(i)", i % 3 == 0 ? .shipmentDelivered : .orderPlaced, customer: "c-\(i % 11)",
                  data: JSONObject(["order": .string("o-\(i)"), "total": .string("\(i).50"), "currency": .string("EUR"), "lines": .array([])]))
        }
        do {
            let bulk = try EventLog(path: scratch.path("log.db"))
            _ = try bulk.append(Array(events[0..<100]), recorded: testClock)  // stored as it goes
            bulk.defersFactsMerge = true
            _ = try bulk.append(Array(events[100..<250]), recorded: testClock)
            _ = try bulk.append(Array(events[250...]), recorded: testClock)
            // Gone without a merge, as if killed: its facts were only in memory.
        }
        let reader = try EventLog(database: try Database(path: scratch.path("log.db"), readOnly: true))
        #expect(try reader.database.scalarInt("SELECT count(*) FROM stream_facts") == 100)
        #expect(try reader.database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_from'") == 101)

        let next = try EventLog(path: scratch.path("log.db"))
        #expect(try next.database.scalarInt("SELECT count(*) FROM log_settings WHERE name = 'facts_from'") == 0)
        let rows = try next.database.prepare("SELECT f.position, f.version, s.customer, f.facts FROM stream_facts f JOIN streams s USING (stream) ORDER BY f.position")
        var versions: [String: Int64] = [:]
        var seen = 0
        while try rows.step() {
            let source = events[seen]
            seen += 1
            versions[source.customer, default: 0] += 1
            #expect(rows.int64(0) == Int64(seen) && rows.int64(1) == versions[source.customer] && rows.text(2) == source.customer)
            #expect(rows.withBytes(3) { Array($0) } == source.facts, "event \(seen)")
        }
        #expect(seen == 300)
        #expect(try next.append([event("e301", customer: "c-1")], recorded: testClock) == [.appended(position: 301, version: 29)])
    }

    @Test("facts are written many rows to a statement, held or merged, each beside its event's position and version",
          arguments: [false, true])
    func factsWrittenInBulk(defers: Bool) throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        log.defersFactsMerge = defers
        // 7 customers, 101 events in batches of 70 and 31: full 32-row statements and single rows.
        let events = (1...101).map { i in
            event("e\(i)", customer: "c-\(i % 7)", data: JSONObject(["order": .string("o-\(i)"), "total": .string("\(i).00"),
                                                                  "currency": .string("EUR"), "lines": .array([])]))
        }
        _ = try log.append(Array(events[0..<70]), recorded: testClock)
        _ = try log.append(Array(events[70...]), recorded: testClock)
        #expect(try log.database.scalarInt("SELECT count(*) FROM stream_facts") == (defers ? 0 : 101))
        try log.database.inTransaction { try log.mergePendingFacts() }
        let rows = try log.database.prepare("""
            SELECT s.customer, f.version, f.position, f.facts FROM stream_facts f JOIN streams s ON s.stream = f.stream ORDER BY f.position
            """)
        var seen = 0
        var versions: [String: Int64] = [:]
        while try rows.step() {
            let source = events[seen]
            seen += 1
            let customer = rows.text(0) ?? ""
            versions[customer, default: 0] += 1
            #expect(customer == source.customer && rows.int64(2) == Int64(seen) && rows.int64(1) == versions[customer])
            #expect(rows.withBytes(3) { Array($0) } == source.facts)
        }
        #expect(seen == 101)
    }

    @Test("appending 32 events to a statement gives what appending one at a time gives, through duplicates, conflicts and an id twice in a group",
          arguments: [false, true])
    func groupedAppendsEqualSingleOnes(defers: Bool) throws {
        let scratch = Scratch()
        let first = (1...40).map { event("e\($0)", customer: "c-\($0 % 6)") }  // a group and 8 single rows
        var second = (41...104).map { event("e\($0)", customer: "c-\($0 % 7)") }  // two groups
        second[10] = first[4]  // re-sent: a duplicate
        var changed = first[6]
        changed.data = #"{"currency":"EUR","lines":[],"order":"o-e7","total":"99.00"}"#
        second[20] = changed  // a conflict
        second[40] = second[35]  // the same event twice in one group
        let third = (105...136).map { event("e\($0)", customer: "new-\($0 % 16)") }  // new customers, each twice

        let grouped = try EventLog(path: scratch.path("grouped.db"))
        let single = try EventLog(path: scratch.path("single.db"))
        grouped.defersFactsMerge = defers
        var groupedOutcomes: [AppendOutcome] = []
        var singleOutcomes: [AppendOutcome] = []
        for batch in [first, second, third] {
            groupedOutcomes += try grouped.append(batch, recorded: testClock)
            for event in batch { singleOutcomes += try single.append([event], recorded: testClock) }
        }
        try grouped.database.inTransaction { try grouped.mergePendingFacts() }
        #expect(groupedOutcomes == singleOutcomes)
        #expect(groupedOutcomes.filter { if case .appended = $0 { true } else { false } }.count == 133)
        #expect(groupedOutcomes[50] == .duplicate(position: 5) && groupedOutcomes[60] == .conflict(position: 7))
        func rows(_ log: EventLog) throws -> [String] {
            let statement = try log.database.prepare("""
                SELECT e.position, e.id, e.customer, e.version, s.stream, hex(f.facts) FROM events e JOIN streams s USING (customer)
                JOIN stream_facts f ON f.stream = s.stream AND f.version = e.version AND f.position = e.position ORDER BY e.position
                """)
            var rows: [String] = []
            while try statement.step() { rows.append((0..<6).map { statement.text(Int32($0)) ?? "" }.joined(separator: " ")) }
            return rows
        }
        let expected = try rows(single)
        #expect(expected.count == 133)
        #expect(try rows(grouped) == expected)
    }

    @Test("held facts are worth merging early only while few are stored: a merge rewrites the pages it lands in")
    func earlyMergeWhileSmall() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        log.defersFactsMerge = true
        log.factsMergeInterval = 40_000  // early merges while fewer than 10,000 are stored
        var next = 0
        func append(_ count: Int) throws {
            _ = try log.append((next..<(next + count)).map { event("e\($0)", customer: "c-\($0 % 300)") }, recorded: testClock)
            next += count
        }
        try append(4000)
        #expect(!log.mergingHeldFactsIsCheap, "too few held to be worth a merge")
        try append(200)
        #expect(log.mergingHeldFactsIsCheap)
        try log.database.inTransaction { try log.mergePendingFacts() }
        #expect(try !log.mergingHeldFactsIsCheap && log.database.scalarInt("SELECT count(*) FROM stream_facts") == 4200)
        try append(6000)
        #expect(log.mergingHeldFactsIsCheap, "4,200 stored")
        try log.database.inTransaction { try log.mergePendingFacts() }
        try append(5000)
        #expect(!log.mergingHeldFactsIsCheap, "10,200 stored: wait for the interval")
    }

    @Test("a merge that meets a (stream, version) stored already fails and loses nothing, in a many-row statement or a single one",
          arguments: [1, 40])
    func mergeRefusesAKeyGivenTwice(pending: Int) throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        _ = try log.append([event("1")], recorded: testClock)  // stream 1, version 1, stored
        // Held facts for versions 2, 3, ..., the last of which is stored already as well.
        log.defersFactsMerge = true
        _ = try log.append((0..<pending).map { event("p\($0)") }, recorded: testClock)
        try log.database.execute("INSERT INTO stream_facts (stream, version, position, facts) VALUES (1, \(pending + 1), 999, x'00')")
        #expect(throws: SQLiteError.self) { try log.database.inTransaction { try log.mergePendingFacts() } }
        #expect(try log.database.scalarInt("SELECT count(*) FROM stream_facts") == 2)
        #expect(try log.database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_from'") == 2, "still to be derived")
        #expect(try log.head() == Int64(pending + 1))
    }

    @Test("events about an order not seen yet are accepted: webhooks arrive out of order")
    func outOfOrder() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let delivered = event("d", .shipmentDelivered, at: "2025-03-05T10:00:00Z", data: JSONObject(["order": .string("o-9")]))
        let placed = event("p", at: "2025-03-01T10:00:00Z")
        #expect(try log.append([delivered, placed], recorded: testClock).count == 2)
        #expect(try log.stream(of: "c-1").map(\.event.type) == [.shipmentDelivered, .orderPlaced])
    }

    @Test("the journal is WAL, checked")
    func walMode() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        #expect(try log.database.scalarText("PRAGMA journal_mode") == "wal")
    }
}

@Suite("Facts keys in stream_facts order")
struct FactsKeyOrderTests {
    typealias Key = HeldFacts.Key

    /// Keys as appends make them: in position order, each stream's versions rising.
    static func appended(streams: [Int64], events: Int, seed: UInt64) -> [Key] {
        var random = SimulationRandom(seed: seed)
        var versions: [Int64: Int64] = [:]
        return (0..<events).map { position in
            let stream = streams[Int(random.next() % UInt64(streams.count))]
            versions[stream, default: 0] += 1
            return Key(stream: stream, version: versions[stream]!, position: Int64(position + 1), offset: Int32(position), count: 1)
        }
    }

    static func isSorted(_ keys: [Key]) -> Bool {
        zip(keys, keys.dropFirst()).allSatisfy { ($0.stream, $0.version) < ($1.stream, $1.version) }
    }

    @Test("dense streams, sparse streams and versions out of order all come out sorted, each key once")
    func sortsEveryShape() {
        let shapes: [[Key]] = [
            Self.appended(streams: Array(1...500), events: 5_000, seed: 1),
            Self.appended(streams: Array(700...710), events: 2_000, seed: 2),
            Self.appended(streams: [3, 9_000_000_000, 42], events: 300, seed: 3),
            Self.appended(streams: Array(1...50), events: 400, seed: 4).reversed(),
            [],
        ]
        for (shape, keys) in shapes.enumerated() {
            var sorted = keys
            HeldFacts.sortForInsert(&sorted)
            let inOrder = Self.isSorted(sorted)
            #expect(inOrder, "shape \(shape) is out of order")
            #expect(sorted.map(\.position).sorted() == keys.map(\.position).sorted())
        }
    }
}
