import AftersaleCore
@testable import AftersaleOutbox
import AftersaleReactor
import AftersaleSQLite
@testable import AftersaleStore
import Testing

/// The live engine runs the reactor in steps of a few customers each (`runBesideWriters`), so that
/// no step holds the intake's writes back for long; one run over the same log must decide the same.
@Suite("The reactor in bounded steps")
struct SteppedRunTests {
    @Test("steps of a few customers each, over a backlog and over a day's ticks, leave the outbox, states and clocks one run leaves")
    func steppedEqualsOneRun() throws {
        let scratch = Scratch()
        let events = try messyShopEvents(seed: 9, customers: 150)
        var engine = ReactorEngine(configuration: ReactorConfiguration())
        // A forecast that changes with time, so the clock's plays (win-back, VIP) have something to judge.
        engine.forecaster = { state, at in
            guard let last = state.lastOrderAt, let currency = state.primaryCurrency else { return nil }
            let days = Double(at.millis - last.millis) / Double(Timestamp.millisPerDay)
            return CustomerForecast(pAlive: max(0, 1 - days / 90), predictedCLV: Money(minorUnits: Int64(state.orderCount) * 20_000, currency: currency))
        }
        let times = events.map(\.at).sorted()
        let half = events.count / 2
        // After each half, the clock is brought to the latest event; then 45 days pass with no event.
        let clocks = [times[half - 1], times.last!, times.last!.adding(millis: 45 * Timestamp.millisPerDay)]
        let appends = [Array(events[..<half]), Array(events[half...]), []]

        let one = try EventLog(path: scratch.path("one.db"))
        let oneStore = try ReactorStore(log: one)
        let stepped = try EventLog(path: scratch.path("stepped.db"))
        let steppedStore = try ReactorStore(log: stepped)
        var steps: [Int] = []
        var stepsThatStoppedEarly = 0
        for (batch, now) in zip(appends, clocks) {
            _ = try one.append(batch, recorded: testClock)
            _ = try stepped.append(batch, recorded: testClock)
            try oneStore.run(until: now, engine: engine)
            var count = 0
            while true {
                guard let step = try steppedStore.runBesideWriters(until: now, engine: engine, maxCustomers: 7) else {
                    Issue.record("nothing else runs here, so no step can find its checkpoint moved")
                    break
                }
                count += 1
                #expect(step.run.customersLoaded <= 7)
                if step.complete { break }
                stepsThatStoppedEarly += 1
            }
            steps.append(count)
        }
        // The first run judges everyone at once (no settings recorded yet); the backlog of the second
        // half and the ticks of the 45 days each take many steps.
        #expect(steps[0] == 1)
        #expect(steps[1] > 10 && steps[2] > 5, "steps per run: \(steps)")
        #expect(stepsThatStoppedEarly > 0)
        // The first run builds the outbox's indexes after its rows, its ids' unique index included
        // (the empty table made again without a key); later runs and steps read by them.
        let indexes = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' AND sql IS NOT NULL ORDER BY name"
        for log in [one, stepped] {
            #expect(try rows(log.database, indexes).map { $0[0] } == ["outbox_customer", "outbox_due", "outbox_id"])
            // Its ids stay unique: a second row with a command's id is refused.
            #expect(throws: (any Error).self) {
                try log.database.execute("INSERT INTO outbox SELECT * FROM outbox LIMIT 1")
            }
        }

        for sql in ["SELECT id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger FROM outbox ORDER BY id",
                    "SELECT customer, hex(state), next_tick FROM reactor_customers ORDER BY customer",
                    "SELECT key, value FROM reactor_meta ORDER BY key"] {
            let expected = try rows(one.database, sql)
            #expect(expected.count >= 3)
            #expect(try rows(stepped.database, sql) == expected, "\(sql)")
        }
        // A customer's stored clock moves only when they are loaded, and a run that loads everyone
        // brings every clock to now; steps load only customers with an event or a tick due. Ticks
        // before the next due one judge nothing (see `ReactorEngine.tick`), so a clock left behind
        // decides the same. Every customer with a tick due by the last run's time is at it in both.
        let clockSQL = "SELECT customer, clock, next_tick FROM reactor_customers ORDER BY customer"
        let end = clocks.last!.startOfUTCDay.millis
        for (a, b) in zip(try rows(stepped.database, clockSQL), try rows(one.database, clockSQL)) {
            let (stepClock, oneClock, nextTick) = (Int64(a[1]) ?? 0, Int64(b[1]) ?? 0, Int64(b[2]) ?? 0)
            if nextTick <= end { #expect(stepClock == oneClock, "\(a[0])") } else { #expect(stepClock <= oneClock, "\(a[0])") }
        }
        #expect(try one.database.scalarInt("SELECT count(*) FROM outbox WHERE kind = 'cross_sell'")! > 0, "cross-sell, which reads what others bought, is in play")
    }

    @Test("an outbox made before first runs dropped its key (its ids the table's key) goes on as the new one does")
    func outboxWithItsIdsAsKey() throws {
        let scratch = Scratch()
        let events = try messyShopEvents(seed: 4, customers: 60)
        let engine = ReactorEngine(configuration: ReactorConfiguration())
        let times = events.map(\.at).sorted()
        let half = events.count / 2
        let new = try EventLog(path: scratch.path("new.db"))
        let old = try EventLog(path: scratch.path("old.db"))
        for log in [new, old] {
            _ = try log.append(Array(events[..<half]), recorded: testClock)
            try ReactorStore(log: log).run(until: times[half - 1], engine: engine)
        }
        // The outbox as first runs left it before: its ids the key, with the same rows and indexes.
        try old.database.inTransaction {
            try old.database.execute("""
                CREATE TABLE keyed (\(ReactorStore.outboxColumns(id: "TEXT PRIMARY KEY"))) STRICT;
                INSERT INTO keyed SELECT * FROM outbox ORDER BY rowid;
                DROP TABLE outbox;
                ALTER TABLE keyed RENAME TO outbox;
                \(ReactorStore.outboxIndexes)
                """)
        }
        #expect(try old.database.scalarInt("SELECT pk FROM pragma_table_info('outbox') WHERE name = 'id'") == 1)
        let before = try rows(old.database, "SELECT id, status, due FROM outbox ORDER BY id")
        #expect(before.count > 50)
        // The second half's events cancel and add commands: upserts by id on either form.
        for log in [new, old] {
            _ = try log.append(Array(events[half...]), recorded: testClock)
            try ReactorStore(log: log).run(until: times.last!, engine: engine)
        }
        let sql = "SELECT id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger FROM outbox ORDER BY id"
        let expected = try rows(new.database, sql)
        #expect(expected.count > before.count)
        #expect(try rows(old.database, sql) == expected)
        #expect(try old.database.scalarInt("SELECT count(*) FROM sqlite_master WHERE name = 'outbox_id'") == 0, "the keyed outbox is left as it is")
    }

    private func rows(_ database: Database, _ sql: String) throws -> [[String]] {
        let statement = try database.prepare(sql)
        let columns = sql.components(separatedBy: " FROM ")[0].split(separator: ",").count
        var rows: [[String]] = []
        while try statement.step() {
            rows.append((0..<Int32(columns)).map { statement.isNull($0) ? "NULL" : statement.text($0) ?? "" })
        }
        return rows
    }
}
