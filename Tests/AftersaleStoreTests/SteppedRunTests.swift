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
        engine.forecaster = fadingForecast(overDays: 90, valuePerOrder: 20_000)
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
            #expect(try rows(log.database, indexes).map { $0[0] } == ["outbox_customer", "outbox_id", "outbox_pending_due"])
            // Dispatch's and delivery's look-ups of pending commands by due time go by the partial index.
            for query in ["SELECT customer FROM outbox WHERE status = 'pending' AND due <= 5",
                          "SELECT customer, due, rowid FROM outbox WHERE status = 'pending' AND due <= 9 AND (due, rowid) > (1, 2) ORDER BY due, rowid",
                          "SELECT count(*) FROM outbox WHERE 1 AND status = 'pending' AND due <= 9 AND due >= 1"] {
                let explain = try log.database.prepare("EXPLAIN QUERY PLAN " + query)
                var plan: [String] = []
                while try explain.step() { plan.append(explain.text(3) ?? "") }
                #expect(plan.contains { $0.hasPrefix("SEARCH outbox USING") && $0.contains("INDEX outbox_pending_due (due") }, "\(plan)")
                #expect(!plan.contains { $0.contains("TEMP B-TREE FOR ORDER BY") }, "\(plan)")
                if query.contains("count(*)") { #expect(plan.contains { $0.contains("COVERING INDEX outbox_pending_due") }, "\(plan)") }
            }
            // Its ids stay unique: a second row with a command's id is refused.
            #expect(throws: (any Error).self) {
                try log.database.execute("INSERT INTO outbox SELECT * FROM outbox LIMIT 1")
            }
        }

        for sql in ["SELECT id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger FROM outbox ORDER BY id",
                    "SELECT customer, hex(state), next_tick FROM reactor_customers ORDER BY customer",
                    "SELECT sku, after, count FROM reactor_co_purchases ORDER BY sku, after",
                    // The counts' token is a random one each save: which counts are stored, the rows say.
                    "SELECT key, value FROM reactor_meta WHERE key NOT IN ('co_purchases_token') ORDER BY key"] {
            let expected = try rows(one.database, sql)
            #expect(expected.count >= (sql.contains("reactor_meta") ? 2 : 3))
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

    @Test("new settings, then a model fitted, are judged for every customer in steps of a few customers, as one run judges them")
    func judgingEveryoneAgainInSteps() throws {
        let scratch = Scratch()
        let events = try messyShopEvents(seed: 11, customers: 120)
        var engine = ReactorEngine(configuration: ReactorConfiguration())
        // P(alive) falls with the days since the last order: the win-back play's threshold decides when it fires.
        engine.forecaster = fadingForecast(overDays: 400, valuePerOrder: 20_000)
        let end = events.map(\.at).max()!
        let one = try EventLog(path: scratch.path("one.db"))
        let stepped = try EventLog(path: scratch.path("stepped.db"))
        let oneStore = try ReactorStore(log: one)
        let steppedStore = try ReactorStore(log: stepped)
        for (log, store) in [(one, oneStore), (stepped, steppedStore)] {
            _ = try log.append(events, recorded: testClock)
            try store.run(until: end, engine: engine)
        }
        let clockCommands = "SELECT count(*) FROM outbox WHERE kind IN ('win_back', 'loyalty_reward')"
        let before = try one.database.scalarInt(clockCommands)!

        /// Steps of at most 7 customers until one is complete; how many, and how many of them judged everyone again.
        func steps(until now: Timestamp, engine: ReactorEngine) throws -> (all: Int, judging: Int) {
            var (all, judging) = (0, 0)
            while true {
                let step = try #require(try steppedStore.runBesideWriters(until: now, engine: engine, maxCustomers: 7))
                all += 1
                if step.judgedAgain { judging += 1 }
                #expect(step.run.customersLoaded <= 7)
                if step.complete { break }
                #expect(all < 1_000, "the walk ends")
                if all >= 1_000 { break }
            }
            return (all, judging)
        }
        // Settings that win customers back sooner and treat more of them as VIP: every customer's next tick may move.
        var eager = engine
        eager.configuration = try ReactorConfiguration.load(json: """
            {"win_back": {"p_alive_below": 0.9},
             "loyalty": {"vip_min_predicted_clv": {"CHF": "150.00", "EUR": "150.00", "GBP": "150.00", "JPY": "20000", "USD": "150.00"}}}
            """)
        let settingsDay = end.adding(days: 3)
        try oneStore.run(until: settingsDay, engine: eager)
        let settings = try steps(until: settingsDay, engine: eager)
        #expect(settings.judging > 120 / 7, "every stored customer judged, 7 a step: \(settings)")
        let afterSettings = try one.database.scalarInt(clockCommands)!
        #expect(afterSettings > before, "the new settings decide something")
        try expectSame(one, stepped, "after new settings")

        // Then a model fitted (from now on, its forecasts: P(alive) falls faster), with a customer's
        // events after it: its walk takes the events first.
        var fitted = eager
        fitted.makeForecaster = { _ in fadingForecast(overDays: 60, valuePerOrder: 30_000) }
        let fitDay = settingsDay.adding(days: 2)
        let model = Event(id: "model-1", type: .modelFitted, customer: EventType.systemCustomer, at: fitDay, data: JSONObject(["model": .string("test")]))
        let later = Event(id: "late-order", type: .orderPlaced, customer: events[0].customer, at: fitDay.adding(millis: 60_000),
                          data: JSONObject(["order": .string("o-late"), "total": .string("20.00"), "currency": .string("EUR"),
                                            "lines": .array([.object(JSONObject(["sku": .string("S-1"), "quantity": .integer(1), "price": .string("20.00")]))])]))
        for log in [one, stepped] { _ = try log.append([EncodedEvent(model), EncodedEvent(later)], recorded: testClock) }
        let modelDay = fitDay.adding(days: 1)
        try oneStore.run(until: modelDay, engine: fitted)
        let model1 = try steps(until: modelDay, engine: fitted)
        #expect(model1.judging > 120 / 7, "\(model1)")
        #expect(try one.database.scalarInt(clockCommands)! > afterSettings, "the model decides something")
        try expectSame(one, stepped, "after a model fitted")
        // Judged: the next run steps as usual.
        #expect(try steps(until: modelDay, engine: fitted).judging == 0)

        // Other settings again; a batch run (`aftersale actions`) in the middle of the walk judges
        // everyone at once and ends it.
        var strict = fitted
        strict.configuration = try ReactorConfiguration.load(json: #"{"win_back": {"p_alive_below": 0.2}}"#)
        let strictDay = modelDay.adding(days: 1)
        try oneStore.run(until: strictDay, engine: strict)
        for _ in 0..<3 { _ = try #require(try steppedStore.runBesideWriters(until: strictDay, engine: strict, maxCustomers: 7)) }
        #expect(try steppedStore.meta(ReactorStore.judgingAfterKey) != nil, "a walk under way")
        try steppedStore.run(until: strictDay, engine: strict)
        #expect(try steppedStore.meta(ReactorStore.judgingAfterKey) == nil)
        try expectSame(one, stepped, "after a batch run in the middle of a walk")

        // `aftersale actions` after a model fitted, under the settings recorded: in steps of a pass's
        // customers, each its own transaction; under other settings, one run.
        let model2 = Event(id: "model-2", type: .modelFitted, customer: EventType.systemCustomer, at: strictDay.adding(days: 1),
                           data: JSONObject(["model": .string("test-2")]))
        for log in [one, stepped] { _ = try log.append([EncodedEvent(model2)], recorded: testClock) }
        let model2Day = strictDay.adding(days: 2)
        try oneStore.run(until: model2Day, engine: strict)
        steppedStore.customersPerPass = 7
        let cli = try steppedStore.runJudgingEveryoneInSteps(until: model2Day, engine: strict)
        #expect(cli.steps > 120 / 7 && cli.customersLoaded >= 120, "steps \(cli.steps), customers \(cli.customersLoaded)")
        try expectSame(one, stepped, "after `actions` judged everyone in steps")
        var other = strict
        other.configuration = ReactorConfiguration()
        try oneStore.run(until: model2Day, engine: other)
        #expect(try steppedStore.runJudgingEveryoneInSteps(until: model2Day, engine: other).steps == 0)
        try expectSame(one, stepped, "after `actions` under other settings")
    }

    @Test("delivery after a model fitted releases what is due and leaves judging everyone to the walk")
    func deliveryLeavesTheWalk() throws {
        let scratch = Scratch()
        let events = try messyShopEvents(seed: 12, customers: 80)
        var engine = ReactorEngine(configuration: ReactorConfiguration())
        engine.makeForecaster = { _ in fadingForecast(overDays: 60, valuePerOrder: 30_000) }
        // The reactor judged up to a moment; the model is fitted just after it: few customers are due.
        let judged = events.map(\.at).max()!.adding(days: 6)
        let model = Event(id: "model-1", type: .modelFitted, customer: EventType.systemCustomer, at: judged.adding(millis: 60_000),
                          data: JSONObject(["model": .string("test")]))
        let now = judged.adding(millis: 120_000)
        let one = try EventLog(path: scratch.path("one.db"))
        let stepped = try EventLog(path: scratch.path("stepped.db"))
        var handed = [0, 0]
        for (i, log) in [one, stepped].enumerated() {
            _ = try log.append(events, recorded: testClock)
            let store = try ReactorStore(log: log)
            try store.run(until: judged, engine: engine)
            // The history's commands handed out (or, too late, suppressed) before the model, and the
            // hand-offs' events run.
            _ = try store.dispatch(now: judged, engine: engine) { handed[i] += $0.count }
            try store.run(until: judged, engine: engine)
            _ = try log.append([EncodedEvent(model)], recorded: testClock)
            let released = try store.releaseForDelivery(now: now, engine: engine, inFlight: []) { _ in }
            #expect(released.released.isEmpty && released.suppressed.isEmpty, "all was handed out two minutes ago")
            // The model's event is behind the checkpoint now; the walk is what judges everyone under it.
            #expect(try store.checkpoint() >= (try log.lastEvent(of: .modelFitted, in: EventType.systemCustomer)!.position))
            #expect(try store.meta(ReactorStore.judgingAfterKey) == "", "a walk begun, no customer judged by it yet")
        }
        #expect(handed[0] == handed[1] && handed[0] > 0)
        try ReactorStore(log: one).run(until: now, engine: engine)
        let steppedStore = try ReactorStore(log: stepped)
        var walkSteps = 0
        while true {
            let step = try #require(try steppedStore.runBesideWriters(until: now, engine: engine, maxCustomers: 9))
            if step.judgedAgain { walkSteps += 1 }
            if step.complete || walkSteps > 100 { break }
        }
        #expect(walkSteps >= 80 / 9)
        try expectSame(one, stepped, "after delivery and the walk")
    }

    @Test("delivery's releases page through an imported backlog two customers at a time, handed commands still pending, and decide what one release decides")
    func pagedReleases() throws {
        let scratch = Scratch()
        let events = try messyShopEvents(seed: 13, customers: 60)
        let engine = ReactorEngine(configuration: ReactorConfiguration())
        // The history judged by a batch run up to a few days after its last event: its commands due
        // by then are pending, most of them past the catch-up window.
        let now = events.map(\.at).max()!.adding(days: 3)
        let one = try EventLog(path: scratch.path("one.db"))
        let paged = try EventLog(path: scratch.path("paged.db"))
        for log in [one, paged] {
            _ = try log.append(events, recorded: testClock)
            try ReactorStore(log: log).run(until: now, engine: engine)
        }
        let dueCustomers = try rows(paged.database, "SELECT DISTINCT customer FROM outbox WHERE status = 'pending' AND due <= \(now.millis)").count
        #expect(dueCustomers > 20)

        var handed: [String] = []
        let whole = try ReactorStore(log: one).releaseForDelivery(now: now, engine: engine, inFlight: []) { handed += $0.map(\.command.id) }
        #expect(whole.upTo == nil)
        #expect(!handed.isEmpty && !whole.suppressed.isEmpty)
        // More customers with a command handed (and so pending, in flight) than a page takes.
        let perPage = 2
        #expect(Set(whole.released.map(\.customer)).count > perPage)

        // Handed commands stay pending until their delivery is recorded (never, here), so a page
        // that began at the earliest due every time would take the same customers again and again.
        let store = try ReactorStore(log: paged)
        var handedInPages: [String] = []
        var suppressedInPages: [String] = []
        var cursor: ReleaseCursor?
        var pages = 0
        repeat {
            let page = try store.releaseForDelivery(now: now, engine: engine, inFlight: Set(handedInPages), page: (customers: perPage, after: cursor)) {
                handedInPages += $0.map(\.command.id)
            }
            #expect(Set((page.released + page.suppressed).map(\.customer)).count <= perPage)
            suppressedInPages += page.suppressed.map(\.id)
            cursor = page.upTo
            pages += 1
        } while cursor != nil && pages <= dueCustomers
        #expect(cursor == nil, "went through every due command")
        // A customer comes up again in a later page only for a command of theirs still pending
        // after the cursor: each page takes the bound, so the pages are about the customers' count.
        let pendingRows = try rows(paged.database, "SELECT id FROM outbox WHERE status = 'pending' AND due <= \(now.millis)").count
        #expect(pages >= dueCustomers / perPage && pages <= (dueCustomers + pendingRows) / perPage + 2, "\(pages) pages")
        #expect(handedInPages.sorted() == handed.sorted())
        #expect(suppressedInPages.sorted() == whole.suppressed.map(\.id).sorted())
        for sql in ["SELECT id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger FROM outbox ORDER BY id",
                    "SELECT customer, hex(state), clock, next_tick FROM reactor_customers ORDER BY customer",
                    "SELECT id, type, customer, data FROM events WHERE type IN ('action.dispatched', 'action.suppressed') ORDER BY id"] {
            #expect(try rows(paged.database, sql) == (try rows(one.database, sql)), "\(sql)")
        }
        // Once through, the next release begins again at the earliest due: the in-flight commands'
        // customers come up again, and nothing is handed twice.
        let again = try store.releaseForDelivery(now: now, engine: engine, inFlight: Set(handedInPages), page: (customers: perPage, after: nil)) { #expect($0.isEmpty) }
        let stillPending = try rows(paged.database, "SELECT DISTINCT customer FROM outbox WHERE status = 'pending' AND due <= \(now.millis)").count
        #expect(stillPending > 0, "the handed commands wait for their delivery")
        #expect(again.released.isEmpty && again.suppressed.isEmpty && (again.upTo != nil) == (stillPending > perPage))
    }

    @Test("payload texts made a chunk ahead of the rows come in the commands' order, and a failing row stops the rest")
    func payloadsAhead() throws {
        let count = ReactorStore.payloadChunk * 2 + 17
        let commands = (0..<count).map { i in
            Command(id: "review_request:e-\(i)", customer: "c-\(i % 97)", kind: .reviewRequest, channel: .email,
                    due: testClock.adding(millis: Int64(i)), payload: JSONObject(["order": .string("o-\(i)"), "n": .integer(i)]),
                    reason: "test", trigger: "e-\(i)")
        }
        var seen: [(String, String)] = []
        try ReactorStore.withPayloads(of: commands, given: nil) { seen.append(($0.id, $1)) }
        #expect(seen.map(\.0) == commands.map(\.id))
        #expect(seen.map(\.1) == ReactorStore.payloadTexts(commands))
        #expect(seen[count - 1].1.contains("\"o-\(count - 1)\""))

        struct Stop: Error {}
        var taken = 0
        #expect(throws: Stop.self) {
            try ReactorStore.withPayloads(of: commands, given: nil) { _, _ in
                taken += 1
                if taken == ReactorStore.payloadChunk + 3 { throw Stop() }
            }
        }
        #expect(taken == ReactorStore.payloadChunk + 3)
    }

    @Test("the outbox's counts by kind and status are SQLite's GROUP BY, in its order")
    func commandCounts() throws {
        let scratch = Scratch()
        let events = try messyShopEvents(seed: 5, customers: 40)
        let log = try EventLog(path: scratch.path("counts.db"))
        _ = try log.append(events, recorded: testClock)
        let store = try ReactorStore(log: log)
        try store.run(until: events.map(\.at).max()!.adding(days: 30), engine: ReactorEngine(configuration: ReactorConfiguration()))
        _ = try store.dispatch(now: events.map(\.at).max()!.adding(days: 30), engine: ReactorEngine(configuration: ReactorConfiguration())) { _ in }
        let expected = try rows(log.database, "SELECT kind, status, count(*) FROM outbox GROUP BY kind, status ORDER BY kind, status")
        #expect(Set(expected.map { $0[1] }).count >= 3, "several statuses: \(expected)")
        #expect(try store.commandCounts().map { [$0.kind, $0.status, String($0.count)] } == expected)
    }

    /// The outbox, the reactor's customers (states, clocks, next ticks) and its records alike.
    private func expectSame(_ one: EventLog, _ stepped: EventLog, _ when: String) throws {
        for sql in ["SELECT id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger FROM outbox ORDER BY id",
                    "SELECT customer, hex(state), clock, next_tick FROM reactor_customers ORDER BY customer",
                    "SELECT sku, after, count FROM reactor_co_purchases ORDER BY sku, after",
                    "SELECT key, value FROM reactor_meta WHERE key NOT IN ('judged_model', 'co_purchases_token') ORDER BY key"] {
            let expected = try rows(one.database, sql)
            #expect(expected.count >= (sql.contains("reactor_meta") ? 2 : 3))
            #expect(try rows(stepped.database, sql) == expected, "\(when): \(sql)")
        }
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
                CREATE INDEX outbox_customer ON outbox(customer);
                CREATE INDEX outbox_due ON outbox(status, due);
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
        // Its index of every command by (status, due) gave way to the pending commands' by due time.
        #expect(try rows(old.database, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' AND sql IS NOT NULL ORDER BY name")
            == [["outbox_customer"], ["outbox_pending_due"]])
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

/// A forecast whose P(alive) falls from 1 to 0 over `overDays` after the last order, and whose
/// predicted value is `valuePerOrder` minor units per order: the clock's plays (win-back, VIP) then
/// have something to judge.
func fadingForecast(overDays: Double, valuePerOrder: Int64) -> @Sendable (CustomerState, Timestamp) -> CustomerForecast? {
    { state, at in
        guard let last = state.lastOrderAt, let currency = state.primaryCurrency else { return nil }
        let days = Double(at.millis - last.millis) / Double(Timestamp.millisPerDay)
        return CustomerForecast(pAlive: max(0, 1 - days / overDays), predictedCLV: Money(minorUnits: Int64(state.orderCount) * valuePerOrder, currency: currency))
    }
}
