import AftersaleCore
@testable import AftersaleStore
import AftersaleSQLite
@testable import AftersaleProjections
import AftersaleOutbox
import Foundation
import Synchronization
import ShopSimulator
import Testing

/// A simulated shop's events, with re-sent duplicates and some events delivered late (out of order).
func messyShopEvents(seed: UInt64, customers: Int) throws -> [EncodedEvent] {
    var configuration = SimulationConfiguration(seed: seed, customers: customers)
    configuration.days = 200
    let validator = EventValidator(now: Timestamp(millis: 4_102_444_800_000))
    var events = try ShopSimulation(configuration).map { EncodedEvent(try validator.decode(line: $0)) }
    var rng = SeededGenerator(seed: seed)
    // Webhooks retry: re-send about 5% of events later in the stream.
    for _ in 0..<(events.count / 20) {
        let i = Int(rng.next() % UInt64(events.count))
        events.insert(events[i], at: min(events.count, i + 1 + Int(rng.next() % 50)))
    }
    // Webhooks arrive out of order: swap neighbours now and then.
    for i in stride(from: 1, to: events.count, by: 7) where rng.next() % 3 == 0 { events.swapAt(i - 1, i) }
    return events
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct BatchSplit: Sendable, CustomStringConvertible {
    var seed: UInt64
    var sizes: [Int]
    /// Catch up by a rebuild whenever the backlog is most of the log (as a first import does).
    var viaRebuild = false
    var description: String { "seed \(seed), batches \(sizes)\(viaRebuild ? ", large backlogs by rebuild" : "")" }
}

@Suite("The customers projection")
struct ProjectionTests {
    @Test("incremental catch-up in any batch split gives exactly the read model a rebuild from 0 gives",
          arguments: [BatchSplit(seed: 1, sizes: [1, 7, 50]), BatchSplit(seed: 2, sizes: [3, 1000]), BatchSplit(seed: 3, sizes: [10_000]),
                      BatchSplit(seed: 4, sizes: [20, 500], viaRebuild: true)])
    func catchUpEqualsRebuild(split: BatchSplit) throws {
        let (seed, splits) = (split.seed, split.sizes)
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let projection = try CustomerProjection(log: log)
        let events = try messyShopEvents(seed: seed, customers: 90)
        #expect(events.count > 500)
        var rng = SeededGenerator(seed: seed)
        var index = 0
        var step = 0
        while index < events.count {
            // Append a chunk, then catch up with a batch size drawn from `splits`.
            let chunk = events[index..<min(index + 1 + Int(rng.next() % 300), events.count)]
            _ = try log.append(Array(chunk), recorded: testClock)
            try projection.catchUp(batchSize: splits[step % splits.count], rebuildThreshold: split.viaRebuild ? 1 : .max, chunkSize: 3)
            index += chunk.count
            step += 1
        }
        let incremental = try projection.allStates()
        #expect(try projection.checkpoint() == log.head())

        // Small chunks: many of them, folded by several workers and written in order.
        let stats = try projection.rebuild(clock: { 0 }, chunkSize: 7)
        let rebuilt = try projection.allStates()
        #expect(stats.events == (try log.head()))
        #expect(stats.customers == rebuilt.count, "the customers counted as their rows were written")
        #expect(incremental.count == rebuilt.count && rebuilt.count > 0)
        #expect(incremental == rebuilt)
        #expect(rebuilt.contains { $0.orderCount > 1 } && rebuilt.contains { !$0.orders.values.filter { $0.cancelledAt != nil }.isEmpty })

        // Chunks of 45 streams: rows inserted 32 to a statement and the rest one by one.
        let cacheSize = try log.database.scalarInt("PRAGMA cache_size")
        _ = try projection.rebuild(clock: { 0 }, chunkSize: 45)
        #expect(try projection.allStates() == rebuilt)
        #expect(try log.database.scalarInt("PRAGMA cache_size") == cacheSize, "the small page cache of the rebuild's writes is let go after")

        // And both equal a pure fold of the log in memory.
        var folded: [String: CustomerState] = [:]
        try log.read { recorded in folded[recorded.event.customer, default: CustomerState(customer: recorded.event.customer)].apply(recorded.event) }
        #expect(rebuilt == folded.values.sorted { $0.customer < $1.customer })
    }

    struct Stopped: Error {}

    @Test("a catch-up stopped between its transactions folds each event once when resumed, in batches smaller or larger")
    func stoppedBetweenTransactions() throws {
        let (scratch, log, rest) = try halfAppended(seed: 5, customers: 90)
        _ = scratch
        let projection = try CustomerProjection(log: log)
        // Stopped after three transactions of seven customers: their rows are folded through the
        // batch's last event, and the checkpoint has not moved.
        projection.rowsPerTransaction = 7
        var transactions = 0
        projection.afterTransaction = { _ in
            transactions += 1
            if transactions == 3 { throw Stopped() }
        }
        #expect(throws: Stopped.self) { try projection.catchUp(rebuildThreshold: .max) }
        #expect(try projection.checkpoint() == 0)
        #expect(try log.database.scalarInt("SELECT count(*) FROM customers WHERE folded_through IS NOT NULL") == 21)
        // More events; a catch-up in batches far smaller than the stopped one meets those rows
        // ahead of each of its batches, and is stopped too.
        _ = try log.append(rest, recorded: testClock)
        projection.rowsPerTransaction = 5
        transactions = 0
        projection.afterTransaction = { _ in
            transactions += 1
            if transactions == 4 { throw Stopped() }
        }
        #expect(throws: Stopped.self) { try projection.catchUp(batchSize: 40, rebuildThreshold: .max) }
        projection.afterTransaction = nil
        try projection.catchUp(batchSize: 300, rebuildThreshold: .max)
        #expect(try projection.checkpoint() == log.head())
        try expectEqualsRebuild(projection, customers: 90)
    }

    @Test("a customer's current state folds what the read model has not yet, rows ahead of it included, and writes nothing")
    func currentWithoutWriting() throws {
        let (scratch, log, rest) = try halfAppended(seed: 7, customers: 30)
        _ = scratch
        let projection = try CustomerProjection(log: log)
        try projection.catchUp(rebuildThreshold: .max)
        _ = try log.append(rest, recorded: testClock)
        // A catch-up stopped after its first transaction: four rows ahead of the checkpoint, the rest behind.
        projection.rowsPerTransaction = 4
        projection.afterTransaction = { _ in throw Stopped() }
        #expect(throws: Stopped.self) { try projection.catchUp(rebuildThreshold: .max) }
        projection.afterTransaction = nil
        let checkpoint = try projection.checkpoint()
        let customers = try log.database.prepare("SELECT customer FROM streams ORDER BY customer")
        var names: [String] = []
        while try customers.step() { names.append(customers.text(0) ?? "") }
        var stale: [String: CustomerState] = [:]
        var current: [String: CustomerState] = [:]
        for name in names {
            stale[name] = try projection.state(of: name)
            current[name] = try projection.current(name)?.state
        }
        #expect(try projection.checkpoint() == checkpoint)
        #expect(names.filter { stale[$0] != current[$0] }.count > 4, "most rows were behind")
        try projection.catchUp(rebuildThreshold: .max)
        for name in names { #expect(current[name] == (try projection.state(of: name)), "\(name)") }
        #expect(try projection.current("c-nobody") == nil)
    }

    /// A log in a scratch folder (kept while the caller holds it) with the first half of a messy
    /// shop's events appended, and the other half.
    func halfAppended(seed: UInt64, customers: Int) throws -> (Scratch, EventLog, [EncodedEvent]) {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let events = try messyShopEvents(seed: seed, customers: customers)
        _ = try log.append(Array(events[..<(events.count / 2)]), recorded: testClock)
        return (scratch, log, Array(events[(events.count / 2)...]))
    }

    /// The read model as it stands is what a rebuild from 0 makes, with this many customers.
    func expectEqualsRebuild(_ projection: CustomerProjection, customers: Int,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let states = try projection.allStates()
        _ = try projection.rebuild(clock: { 0 })
        #expect(states.count == customers, sourceLocation: sourceLocation)
        #expect(states == (try projection.allStates()), sourceLocation: sourceLocation)
    }

    @Test("a catch-up's batch ends once the states it holds reach the budget, and the read model is the same")
    func batchEndsAtStateBudget() throws {
        let (scratch, log, rest) = try halfAppended(seed: 8, customers: 60)
        _ = scratch
        let projection = try CustomerProjection(log: log)
        // Each batch writes its rows in one transaction, so transactions count batches.
        var batches: [Int] = []
        projection.afterTransaction = { batches.append($0) }
        try projection.catchUp(batchSize: 100_000, stateBytesPerBatch: 3_000, rebuildThreshold: .max)
        #expect(try projection.checkpoint() == log.head())
        #expect(batches.count > 3, "a batch of the whole log stopped at the budget, several times")
        let customersSoFar = Int(try #require(try log.database.scalarInt("SELECT count(*) FROM streams")))
        #expect(batches.allSatisfy { $0 < customersSoFar }, "no batch held every customer")
        try expectEqualsRebuild(projection, customers: customersSoFar)
        // Later events fold onto the stored states; without a budget it is one batch.
        _ = try log.append(rest, recorded: testClock)
        batches = []
        try projection.catchUp(batchSize: 100_000, stateBytesPerBatch: 3_000, rebuildThreshold: .max)
        #expect(batches.count > 3)
        try expectEqualsRebuild(projection, customers: 60)
        let (scratch2, log2, rest2) = try halfAppended(seed: 8, customers: 60)
        _ = scratch2
        _ = try log2.append(rest2, recorded: testClock)
        let whole = try CustomerProjection(log: log2)
        var wholeBatches = 0
        whole.afterTransaction = { _ in wholeBatches += 1 }
        try whole.catchUp(batchSize: 100_000, rebuildThreshold: .max)
        #expect(wholeBatches == 1)
        #expect(try whole.allStates() == projection.allStates())
    }

    @Test("a read model written before catch-ups took several transactions gains the column and folds on")
    func olderTableGainsTheColumn() throws {
        let (scratch, log, rest) = try halfAppended(seed: 6, customers: 40)
        _ = scratch
        try CustomerProjection(log: log).catchUp(rebuildThreshold: .max)
        // The table as an earlier version left it.
        try log.database.execute("ALTER TABLE customers DROP COLUMN folded_through")
        _ = try log.append(rest, recorded: testClock)
        let projection = try CustomerProjection(log: log)
        projection.rowsPerTransaction = 3
        try projection.catchUp(rebuildThreshold: .max)
        try expectEqualsRebuild(projection, customers: 40)
    }

    @Test("a customer's state survives the storage codec unchanged")
    func codecRoundTrip() throws {
        let events = try messyShopEvents(seed: 9, customers: 20)
        var states: [String: CustomerState] = [:]
        for e in events {
            let event = Event(id: e.id, type: e.type, customer: e.customer, at: e.at, schema: e.schema,
                              data: try JSONParser.parse(e.data).objectValue!)
            states[e.customer, default: CustomerState(customer: e.customer)].apply(event)
        }
        #expect(states.count == 20)
        for state in states.values {
            let bytes = CustomerStateBinaryCodec.encode(state)
            #expect(try CustomerStateBinaryCodec.decode(bytes) == state)
            #expect(CustomerStateBinaryCodec.encode(try CustomerStateBinaryCodec.decode(bytes)) == bytes, "the same state is the same bytes")
            #expect(throws: BinaryDecodingError.self) { try CustomerStateBinaryCodec.decode(Array(bytes.dropLast())) }
        }
    }

    @Test("rebuilding keeps the live table readable until the swap, and catches events appended meanwhile")
    func rebuildAfterMoreEvents() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let projection = try CustomerProjection(log: log)
        _ = try log.append([event("a"), event("b", customer: "c-2")], recorded: testClock)
        try projection.catchUp()
        let reader = try CustomerProjection(log: EventLog(path: scratch.path("log.db")))
        #expect(try reader.customerCount() == 2)
        _ = try log.append([event("c", customer: "c-3")], recorded: testClock)
        _ = try projection.rebuild(clock: { 0 })
        #expect(try reader.customerCount() == 3)
        #expect(try reader.state(of: "c-1")?.orderCount == 1)
        #expect(try projection.checkpoint() == 3)
        #expect(try projection.catchUp() == 0)
    }

    @Test("events another writer appends while a rebuild runs are folded before the swap, new customers counted")
    func rebuildWithConcurrentAppend() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let projection = try CustomerProjection(log: log)
        _ = try log.append((1...40).map { event("e\($0)", customer: "c-\($0 % 20)") }, recorded: testClock)
        let other = try EventLog(path: scratch.path("log.db"))
        var appended = false
        let stats = try projection.rebuild(clock: { 0 }, chunkSize: 3) { _, _ in
            // Between two chunks the rebuild holds no lock: another writer can append.
            guard !appended else { return }
            appended = true
            _ = try? other.append([event("late-1", customer: "c-new"), event("late-2", customer: "c-1")], recorded: testClock)
        }
        #expect(appended)
        #expect(stats.events == 42 && stats.customers == 21)
        #expect(try projection.customerCount() == 21)
        #expect(try projection.state(of: "c-new")?.orderCount == 1)
        #expect(try projection.state(of: "c-1")?.orderCount == 3)
        #expect(try projection.checkpoint() == 42)
    }

    @Test("a rebuild reads each stream's facts up to its head only, and only the streams of its chunk")
    func readStreamsStopsAtTheHead() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        _ = try log.append([event("a"), event("b", customer: "c-2"), event("c"), event("d", customer: "c-3")], recorded: testClock)
        let head = try log.head()
        // Appended after the rebuild read its head: left to the catch-up before the swap.
        _ = try log.append([event("e"), event("f", customer: "c-2"), event("g", customer: "c-3")], recorded: testClock)
        func factsPerCustomer(streams: Range<Int64>, through position: Int64) throws -> [String: Int] {
            var counts: [String: Int] = [:]
            try log.readStreams(streams, through: position) { _, customer, facts in
                counts[customer] = 0
                while try facts.next() != nil { counts[customer]! += 1 }
            }
            return counts
        }
        let all = 1..<(try log.lastStreamID() + 1)
        #expect(try factsPerCustomer(streams: all, through: head) == ["c-1": 2, "c-2": 1, "c-3": 1])
        #expect(try factsPerCustomer(streams: all, through: try log.head()) == ["c-1": 3, "c-2": 2, "c-3": 2])
        #expect(try factsPerCustomer(streams: 2..<3, through: try log.head()) == ["c-2": 2])
        #expect(try factsPerCustomer(streams: 1..<3, through: head) == ["c-1": 2, "c-2": 1])
    }

    @Test("a rebuild on another connection while a bulk load holds facts folds those events too")
    func rebuildWhileABulkLoadHoldsFacts() throws {
        let scratch = Scratch()
        let bulk = try EventLog(path: scratch.path("log.db"))
        bulk.defersFactsMerge = true
        _ = try bulk.append((1...40).map { event("e\($0)", customer: "c-\($0 % 20)") }, recorded: testClock)
        let projection = try CustomerProjection(log: EventLog(path: scratch.path("log.db")))
        let stats = try projection.rebuild(clock: { 0 })
        #expect(stats.events == 40 && stats.customers == 20)
        #expect(try projection.state(of: "c-1")?.orderCount == 2)
        // The bulk load lets go of what the rebuild stored, and goes on with the right versions.
        #expect(try bulk.append([event("e41", customer: "c-1")], recorded: testClock) == [.appended(position: 41, version: 3)])
        try projection.catchUp()
        #expect(try projection.state(of: "c-1")?.orderCount == 3)
    }

    @Test("a rebuild waits while another holds the lock beside the database: two would build the same table")
    func rebuildsTakeTurns() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        _ = try log.append((1...40).map { event("e\($0)", customer: "c-\($0 % 20)") }, recorded: testClock)
        let path = scratch.path("log.db")
        let watcher = try CustomerProjection(log: log)
        // Another rebuild's hold on the lock, taken the way `rebuild` takes it.
        let fd = open(path + "-rebuild.lock", O_RDWR | O_CREAT, 0o644)
        #expect(fd >= 0 && flock(fd, LOCK_EX) == 0)
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<CustomerProjection.RebuildStatistics?>(nil)
        Thread {
            let projection = try? CustomerProjection(log: EventLog(path: path))
            result.withLock { $0 = try? projection?.rebuild(clock: { 0 }) }
            done.signal()
        }.start()
        #expect(done.wait(timeout: .now() + 0.5) == .timedOut, "it ran while the other held the lock")
        #expect(try watcher.checkpoint() == 0)
        close(fd)
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(result.withLock { $0?.customers } == 20)
        #expect(try watcher.checkpoint() == 40)
    }

    @Test("reactor states stored as JSON by an earlier version are converted to the binary codec once")
    func reactorStatesConverted() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        try log.database.execute("""
            CREATE TABLE reactor_customers (customer TEXT PRIMARY KEY, state TEXT NOT NULL, clock INTEGER, next_tick INTEGER) STRICT;
            INSERT INTO reactor_customers VALUES ('c-1', '{"c":"c-1","email":"a@example.com","birthday":"--04-12","consent":{"email":true,"sms":false},"orders":[{"id":"o-1","placed":[1735689600000,60],"total":5980,"cur":"EUR","lines":[{"sku":"s-1","q":2,"p":2990,"cat":"tea"}],"delivered":[1736035200000,0]}],"n":1,"items":2,"first":[1735689600000,60],"last":[1735689600000,60],"placed":{"EUR":5980},"days":[[20089,5980]],"cur":"EUR","owned":["s-1"],"unanswered":{"r-1":2},"unansweredNegative":["r-1"],"reviews":1,"lastRating":2,"events":4}', 1736035200000, 1736640000000);
            """)
        _ = try ReactorStore(log: log)
        _ = try ReactorStore(log: log)  // a second opening finds nothing to convert
        #expect(try log.database.scalarText("SELECT type FROM pragma_table_info('reactor_customers') WHERE name = 'state'") == "BLOB")
        let row = try log.database.prepare("SELECT state, clock, next_tick FROM reactor_customers WHERE customer = 'c-1'")
        #expect(try row.step())
        let state = try row.withBytes(0) { try CustomerStateBinaryCodec.decode(UnsafeRawBufferPointer($0)) }
        #expect(row.int64(1) == 1_736_035_200_000 && row.int64(2) == 1_736_640_000_000)
        #expect(state.email == "a@example.com" && state.birthday == Birthday("--04-12") && state.consent == ["email": true, "sms": false])
        #expect(state.orders["o-1"]?.lines == [OrderLine(sku: "s-1", quantity: 2, price: 2990, category: "tea")])
        #expect(state.orders["o-1"]?.placedAt == Timestamp(millis: 1_735_689_600_000, offsetMinutes: 60))
        #expect(state.orders["o-1"]?.deliveredAt != nil && state.placedValue == MoneyByCurrency(minorUnits: ["EUR": 5980]) && state.purchaseDays.map(\.value) == [5980])
        #expect(state.unansweredNegativeReviews == ["r-1"] && state.lastRating == 2 && state.eventCount == 4)
    }
}
