import AftersaleCore
@testable import AftersaleOutbox
import AftersaleReactor
import AftersaleSQLite
@testable import AftersaleStore
import Testing

/// Cross-sell's co-purchase counts are shared by every customer and grow with the catalogue's pairs,
/// not with a step: the service saves after every step, so a save writes the pairs whose counts
/// changed, and the service keeps the counts in memory from one run to the next.
@Suite("The co-purchase counts' storage")
struct CoPurchaseStorageTests {
    /// The messy shop cut in three, each part followed by a run at its last event's time.
    private func parts(seed: UInt64) throws -> [(events: [EncodedEvent], now: Timestamp)] {
        let events = try messyShopEvents(seed: seed, customers: 140)
        let cuts = [0, events.count * 6 / 10, events.count * 8 / 10, events.count]
        return (0..<3).map { i in
            let part = Array(events[cuts[i]..<cuts[i + 1]])
            return (part, events[..<cuts[i + 1]].map(\.at).max()!)
        }
    }

    /// Cross-sell offered on a pair bought once: a small shop's counts then decide something.
    private let engine: ReactorEngine = {
        var configuration = ReactorConfiguration()
        configuration.crossSell.minCount = 1
        return ReactorEngine(configuration: configuration)
    }()

    @Test("a step writes the pairs its orders changed, not every pair, and leaves the counts one run leaves")
    func stepWritesChangedPairs() throws {
        let scratch = Scratch()
        let parts = try parts(seed: 21)
        let log = try EventLog(path: scratch.path("steps.db"))
        _ = try log.append(parts[0].events, recorded: testClock)
        try ReactorStore(log: log).run(until: parts[0].now, engine: engine)
        let before = try pairs(log.database)
        #expect(before.count > 15, "a catalogue's worth of pairs: \(before.count)")
        // Every write to the counts' rows, counted by the file itself.
        try log.database.execute("""
            CREATE TABLE pair_writes (n INTEGER);
            CREATE TRIGGER pair_inserted AFTER INSERT ON reactor_co_purchases BEGIN INSERT INTO pair_writes VALUES (1); END;
            CREATE TRIGGER pair_updated AFTER UPDATE ON reactor_co_purchases BEGIN INSERT INTO pair_writes VALUES (1); END;
            """)
        _ = try log.append(parts[1].events, recorded: testClock)
        let memory = CoPurchaseMemory()
        var steps = 0
        while true {
            let store = try ReactorStore(log: log)
            store.coPurchaseMemory = memory
            let step = try #require(try store.runBesideWriters(until: parts[1].now, engine: engine, maxCustomers: 10))
            steps += 1
            if step.complete { break }
        }
        let after = try pairs(log.database)
        let changed = after.filter { before[$0.key] != $0.value }.count
        let writes = try log.database.scalarInt("SELECT count(*) FROM pair_writes") ?? -1
        #expect(steps > 3)
        #expect(changed > 0 && changed < after.count, "\(changed) of \(after.count) pairs changed")
        // A pair counted by two steps is written by each, so at least the changed ones, and far
        // fewer than every pair at every step.
        #expect(writes >= changed && writes < after.count, "\(writes) writes for \(changed) changed pairs of \(after.count) over \(steps) steps")
        // Steps after the first took the counts from memory, not from the rows.
        #expect(memory.hits == steps - 1)

        let one = try EventLog(path: scratch.path("one.db"))
        _ = try one.append(parts[0].events + parts[1].events, recorded: testClock)
        try ReactorStore(log: one).run(until: parts[1].now, engine: engine)
        #expect(try pairs(one.database) == after)
    }

    @Test("counts held in memory are used only while they are the stored ones: a run of another process in between is read")
    func memoryFollowsTheStoredToken() throws {
        let scratch = Scratch()
        let parts = try parts(seed: 22)
        let memory = CoPurchaseMemory()
        let subject = try EventLog(path: scratch.path("subject.db"))
        let control = try EventLog(path: scratch.path("control.db"))
        for (i, part) in parts.enumerated() {
            for log in [subject, control] { _ = try log.append(part.events, recorded: testClock) }
            // The service's runs hold the counts in memory; the middle one is a CLI run, which does not.
            let store = try ReactorStore(log: subject)
            if i != 1 { store.coPurchaseMemory = memory }
            try store.run(until: part.now, engine: engine)
            try ReactorStore(log: control).run(until: part.now, engine: engine)
            #expect(try pairs(subject.database) == pairs(control.database), "after part \(i)")
        }
        // The third run found the token the CLI run stored, not the one it held: it read the rows.
        #expect(memory.hits == 0)
        #expect(try outbox(subject.database) == outbox(control.database))
        // The same token once more: held, not read.
        let again = try ReactorStore(log: subject)
        again.coPurchaseMemory = memory
        _ = try again.storedCoPurchases()
        #expect(memory.hits == 1)
    }

    @Test("a file that kept its counts as one JSON text gets them as rows, once, and decides as before")
    func jsonCountsConverted() throws {
        let scratch = Scratch()
        let parts = try parts(seed: 23)
        let old = try EventLog(path: scratch.path("old.db"))
        let control = try EventLog(path: scratch.path("control.db"))
        for log in [old, control] {
            _ = try log.append(parts[0].events, recorded: testClock)
            try ReactorStore(log: log).run(until: parts[0].now, engine: engine)
        }
        // The counts as an earlier build left them: one JSON object under `co_purchases`, no table.
        let counts = try pairs(old.database)
        var bySKU: [String: [(String, Int)]] = [:]
        for (pair, count) in counts { bySKU[pair.earlier, default: []].append((pair.later, count)) }
        let text = "{" + bySKU.keys.sorted().map { sku in
            "\"\(sku)\":{" + bySKU[sku]!.sorted { $0.0 < $1.0 }.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }.joined(separator: ",") + "}"
        try old.database.execute("DROP TABLE reactor_co_purchases; DELETE FROM reactor_meta WHERE key = 'co_purchases_token'")
        try old.database.prepare("INSERT INTO reactor_meta (key, value) VALUES ('co_purchases', ?1)").run([.text(text)])

        for log in [old, control] {
            _ = try log.append(parts[1].events, recorded: testClock)
            try ReactorStore(log: log).run(until: parts[1].now, engine: engine)
        }
        #expect(try old.database.scalarInt("SELECT count(*) FROM reactor_meta WHERE key = 'co_purchases'") == 0)
        #expect(try pairs(old.database) == pairs(control.database))
        #expect(try pairs(old.database).count > counts.count / 2)
        #expect(try outbox(old.database) == outbox(control.database))
        #expect(try old.database.scalarInt("SELECT count(*) FROM outbox WHERE kind = 'cross_sell'")! > 0, "cross-sell read the counts")
    }

    @Test("a text under co_purchases that is not an object of counts is an error naming it, not counts dropped",
          arguments: ["[1, 2]", #"{"MUG-1": 3}"#, #"{"MUG-1": {"TEAPOT-1": 1.5}}"#, #"{"MUG-1": {"TEAPOT-1": "2"}}"#])
    func damagedJSONCounts(text: String) throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("damaged.db"))
        _ = try ReactorStore(log: log)
        try log.database.prepare("INSERT INTO reactor_meta (key, value) VALUES ('co_purchases', ?1)").run([.text(text)])
        let error = #expect(throws: StoreError.self) { _ = try ReactorStore(log: log) }
        #expect(error.map { "\($0)" }?.contains("reactor_meta.co_purchases") == true, "\(String(describing: error))")
        // Nothing was taken away: the text is still there to mend.
        #expect(try log.database.scalarInt("SELECT count(*) FROM reactor_meta WHERE key = 'co_purchases'") == 1)
    }

    private func pairs(_ database: Database) throws -> [Pair: Int] {
        let rows = try database.prepare("SELECT sku, after, count FROM reactor_co_purchases")
        var result: [Pair: Int] = [:]
        while try rows.step() { result[Pair(rows.text(0) ?? "", rows.text(1) ?? "")] = Int(rows.int64(2)) }
        return result
    }

    private func outbox(_ database: Database) throws -> [String] {
        let rows = try database.prepare("SELECT id, status, due, channel, payload, reason FROM outbox ORDER BY id")
        var result: [String] = []
        while try rows.step() { result.append((0..<6).map { rows.text(Int32($0)) ?? "NULL" }.joined(separator: "|")) }
        return result
    }
}

/// A pair of SKUs: the earlier one, then the one bought after it.
private struct Pair: Hashable {
    let earlier: String
    let later: String
    init(_ earlier: String, _ later: String) {
        self.earlier = earlier
        self.later = later
    }
}
