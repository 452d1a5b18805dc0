public import AftersaleCore
internal import AftersaleSQLite
internal import Foundation
public import AftersaleStore
public import AftersaleReactor

/// The reactor's persistence: the outbox, the reactor's own customer states and its checkpoint,
/// always written in one transaction, in the log's file.
///
/// A run loads the engine, feeds it every event after the checkpoint and the clock up to `now`,
/// and commits what changed with the new checkpoint. Re-running is a no-op; a run killed half-way
/// leaves the previous commit, and the next run redoes the rest with the same ids.
public final class ReactorStore {
    public let log: EventLog
    var database: Database { log.database }
    /// Set by a load that read every customer: the save then records every next tick.
    private var loadedAll = false
    /// A first run's writing: every command is new, and the outbox has no index on its ids yet.
    private var appendsOnly = false
    /// How many customers the last load read.
    private var loadedCustomers = 0
    /// The co-purchase counts kept from one store to the next (the service's engine makes a store
    /// a run): a step then reads and writes the pairs it changed, not the whole table.
    public var coPurchaseMemory: CoPurchaseMemory?
    /// How many engines a run splits the customers across, each on its own thread (see
    /// `ReactorShards`); 1 runs one engine. The decisions are the same either way.
    public var parallelism: Int

    /// `parallelism` nil: one engine per core.
    public init(log: EventLog, parallelism: Int? = nil) throws {
        self.log = log
        self.parallelism = max(1, parallelism ?? ProcessInfo.processInfo.activeProcessorCount)
        try database.execute("""
            CREATE TABLE IF NOT EXISTS reactor_customers (customer TEXT PRIMARY KEY, state BLOB NOT NULL, clock INTEGER,
                next_tick INTEGER) STRICT;
            CREATE TABLE IF NOT EXISTS outbox (\(ReactorStore.outboxColumns(id: "TEXT PRIMARY KEY"))) STRICT;
            \(ReactorStore.outboxIndexes)
            CREATE TABLE IF NOT EXISTS reactor_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
            CREATE TABLE IF NOT EXISTS reactor_co_purchases (sku TEXT NOT NULL, after TEXT NOT NULL, count INTEGER NOT NULL,
                PRIMARY KEY (sku, after)) STRICT, WITHOUT ROWID;
            """)
        try dropStatusDueIndex()
        if try meta(ReactorStore.coPurchasesJSONKey) != nil { try convertJSONCoPurchases() }
        // Databases from before the next-tick column: NULL means "load it", so they just work.
        if try database.scalarInt("SELECT count(*) FROM pragma_table_info('reactor_customers') WHERE name = 'next_tick'") == 0 {
            try database.execute("ALTER TABLE reactor_customers ADD COLUMN next_tick INTEGER")
        }
        if try database.scalarInt("SELECT count(*) FROM pragma_table_info('reactor_customers') WHERE name = 'state' AND type = 'TEXT'") == 1 {
            try convertJSONStates()
        }
        try database.execute("CREATE INDEX IF NOT EXISTS reactor_customers_next_tick ON reactor_customers(next_tick)")
    }

    /// The meta key under which the co-purchase counts were one JSON text, written whole by every
    /// save, before they were rows of `reactor_co_purchases`.
    static let coPurchasesJSONKey = "co_purchases"
    /// The meta key of the stored co-purchase counts' version: a new random token at each save that
    /// changes them, so a `CoPurchaseMemory` knows whether what it holds is still what is stored.
    static let coPurchasesTokenKey = "co_purchases_token"

    /// Databases from before the counts' rows: their JSON text becomes rows, once.
    private func convertJSONCoPurchases() throws {
        try database.inTransaction {
            guard let text = try meta(ReactorStore.coPurchasesJSONKey) else { return }
            guard case .object(let object) = try JSONParser.parse(text) else {
                throw StoreError(.unknownStoredValue, "reactor_meta.co_purchases is not a JSON object of co-purchase counts")
            }
            let insert = try database.prepare("INSERT OR REPLACE INTO reactor_co_purchases (sku, after, count) VALUES (?1, ?2, ?3)")
            for member in object.members {
                guard let followers = member.value.objectValue else {
                    throw StoreError(.unknownStoredValue, "reactor_meta.co_purchases: \(member.key) has no object of counts")
                }
                for pair in followers.members {
                    guard let count = pair.value.intValue, count >= 0 else {
                        throw StoreError(.unknownStoredValue,
                                         "reactor_meta.co_purchases: the count of \(pair.key) after \(member.key) is not a whole number of customers")
                    }
                    if count > 0 { try insert.run([.text(member.key), .text(pair.key), .int(Int64(count))]) }
                }
            }
            try database.cached("DELETE FROM reactor_meta WHERE key = ?1").run([.text(ReactorStore.coPurchasesJSONKey)])
            try setMeta(ReactorStore.coPurchasesTokenKey, ReactorStore.newToken())
        }
    }

    static func newToken() -> String { String(UInt64.random(in: .min ... .max), radix: 16) }

    /// Databases from before the binary state codec stored the reactor's states as JSON text:
    /// converted once, row by row, into the binary form the customers read model uses.
    private func convertJSONStates() throws {
        try database.inTransaction {
            try database.execute("""
                CREATE TABLE reactor_customers_binary (customer TEXT PRIMARY KEY, state BLOB NOT NULL, clock INTEGER,
                    next_tick INTEGER) STRICT;
                """)
            let rows = try database.prepare("SELECT customer, state, clock, next_tick FROM reactor_customers")
            let insert = try database.prepare("INSERT INTO reactor_customers_binary VALUES (?1, ?2, ?3, ?4)")
            while try rows.step() {
                insert.bind(rows.text(0) ?? "", at: 1)
                insert.bind(bytes: CustomerStateBinaryCodec.encode(try CustomerStateCodec.decode(rows.text(1) ?? "")), at: 2)
                if rows.isNull(2) { insert.bindNull(at: 3) } else { insert.bind(rows.int64(2), at: 3) }
                if rows.isNull(3) { insert.bindNull(at: 4) } else { insert.bind(rows.int64(3), at: 4) }
                try insert.step()
                insert.reset()
            }
            try database.execute("""
                DROP TABLE reactor_customers;
                ALTER TABLE reactor_customers_binary RENAME TO reactor_customers;
                """)
        }
    }

    /// What a run did.
    public struct RunSummary: Sendable {
        /// Customers the run read from storage: those with an event or a tick due, or all of them.
        public var customersLoaded = 0
        public var events = 0
        public var scheduled = 0
        public var changed = 0
        public var checkpoint: Int64 = 0
        /// Commands and customers written at the end.
        public var written = 0
        /// Where the run's time went, in seconds (wall time, for people and the benchmark; never
        /// part of a decision).
        public var loadSeconds = 0.0
        public var eventSeconds = 0.0
        public var clockSeconds = 0.0
        /// Writing: in a run, its rows and indexes; in a step beside writers (`runBesideWriters`), the
        /// write lock held, its commit included, which is what the intake waits for.
        public var saveSeconds = 0.0
        /// Passes over the log (see `ReactorStore.customersPerPass`).
        public var passes = 1
        /// Steps, each written in its own transaction (`runJudgingEveryoneInSteps`); 0 for one run.
        public var steps = 0

        public init() {}

        /// Adds a later run's or step's figures to these (its checkpoint the later one).
        public mutating func add(_ other: RunSummary) {
            customersLoaded += other.customersLoaded
            events += other.events
            scheduled += other.scheduled
            changed += other.changed
            checkpoint = max(checkpoint, other.checkpoint)
            written += other.written
            loadSeconds += other.loadSeconds
            eventSeconds += other.eventSeconds
            clockSeconds += other.clockSeconds
            saveSeconds += other.saveSeconds
            passes += other.passes
        }
    }

    /// Seconds since `start`, on a monotonic clock.
    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// The position of the last event the reactor processed.
    public func checkpoint() throws -> Int64 {
        try meta("checkpoint").flatMap { Int64($0) } ?? 0
    }

    func meta(_ key: String) throws -> String? {
        let s = try database.cached("SELECT value FROM reactor_meta WHERE key = ?1")
        s.bind(key, at: 1)
        defer { s.reset() }
        return try s.step() ? s.text(0) : nil
    }

    private func setMeta(_ key: String, _ value: String) throws {
        try database.cached("INSERT INTO reactor_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .run([.text(key), .text(value)])
    }

    /// Brings the reactor up to `now`: every event after the checkpoint, then the clock.
    @discardableResult
    public func run(until now: Timestamp, engine prototype: ReactorEngine) throws -> RunSummary {
        // A first run sorts its indexes (below) through temporary files, not in memory, where the
        // connection keeps its temporary data: a million customers' commands took 1.7 GiB there.
        // Set outside the transaction, as SQLite asks; if it cannot be set, they sort in memory.
        let sortsOnDisk = try isFirstRun() && (try? database.execute("PRAGMA temp_store=FILE")) != nil
        defer { if sortsOnDisk { try? database.execute("PRAGMA temp_store=MEMORY") } }
        return try database.inTransaction {
            // A shop's first run writes its whole history of commands (tens of millions for a
            // million customers). Kept up to date row by row, the outbox's indexes by customer and
            // by due time take a page at a random place for each command once they outgrow the page
            // cache; built after the rows, each is one sort. Nothing in a first run reads them: it
            // loads no stored customer. In the same transaction, so a run that stops keeps them.
            //
            // The key's index too: the ids are `kind:trigger:subkey`, so each command's goes to a
            // random place in it, and at a million customers keeping it current cost more than
            // the rows. The empty outbox is made again with its ids unique by an index
            // (`outbox_id`) instead of its key, the rows go in without one, and the index is built
            // after them: any duplicate id fails the build and the whole run with it.
            let first = try isFirstRun()
            if first {
                try database.execute("""
                    DROP TABLE outbox;
                    CREATE TABLE outbox (\(ReactorStore.outboxColumns(id: "TEXT NOT NULL"))) STRICT;
                    """)
                appendsOnly = true
            }
            defer { appendsOnly = false }
            var summary = try runPasses(prototype, until: now, withDueCommands: false, finishShards: { engines, summary in
                let saving = ContinuousClock.now
                summary.written += try self.saveShards(&engines)
                summary.saveSeconds += ReactorStore.seconds(since: saving)
            }) { engine, summary in
                let saving = ContinuousClock.now
                summary.written += try save(&engine)
                summary.saveSeconds += ReactorStore.seconds(since: saving)
            }
            if first {
                let indexing = ContinuousClock.now
                appendsOnly = false
                try database.execute("CREATE UNIQUE INDEX outbox_id ON outbox(id);\n" + ReactorStore.outboxIndexes)
                summary.saveSeconds += ReactorStore.seconds(since: indexing)
            }
            return summary
        }
    }

    /// Nothing was ever decided here: no command, no customer's state.
    private func isFirstRun() throws -> Bool {
        // Whether a row exists, not how many: a count reads a whole index of tens of millions.
        try database.scalarInt("SELECT EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM reactor_customers)") == 0
    }

    /// The outbox's columns, `id` declared as `id`: the table's key (`TEXT PRIMARY KEY`, as every
    /// outbox is made), or with its uniqueness left to the index `outbox_id` (`TEXT NOT NULL`, as a
    /// first run makes it again). Both answer the same statements.
    static func outboxColumns(id: String) -> String {
        """
        id            \(id),
        customer      TEXT NOT NULL,
        kind          TEXT NOT NULL,
        channel       TEXT NOT NULL,
        due           INTEGER NOT NULL,
        payload       TEXT NOT NULL,
        reason        TEXT NOT NULL,
        priority      TEXT NOT NULL,
        status        TEXT NOT NULL,
        status_reason TEXT,
        cancelled_by  TEXT,
        trigger       TEXT NOT NULL
        """
    }

    /// The outbox's indexes besides its key: by customer (a customer's commands, for a run that
    /// loads them) and the pending commands by due time (dispatch, delivery's releases).
    ///
    /// Only pending commands are looked up by due time, and much of an outbox is not pending
    /// (cancelled, suppressed, dispatched): a partial index holds fewer rows, and a first run builds
    /// it in a fraction of the time the index on `(status, due)` took (tools/results/million-customers.md).
    /// Its `status` (always 'pending') lets a count of pending commands due in a span read the index alone.
    static let outboxIndexes = """
        CREATE INDEX IF NOT EXISTS outbox_customer ON outbox(customer);
        CREATE INDEX IF NOT EXISTS outbox_pending_due ON outbox(due, status) WHERE status = 'pending';
        """

    /// Outboxes from before the partial index kept every command by `(status, due)`: once `init` has
    /// made the partial one, that index goes.
    private func dropStatusDueIndex() throws {
        guard try database.scalarInt("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'outbox_due'") == 1 else { return }
        try database.execute("DROP INDEX IF EXISTS outbox_due")
    }

    /// What one step of `runBesideWriters` did.
    public struct StepSummary: Sendable {
        public var run: RunSummary
        /// Every event of the log's snapshot was taken and every customer with a tick due brought
        /// up to `now`: nothing is left for another step.
        public var complete: Bool
        /// It took every event of its snapshot (whether or not every customer with a tick due
        /// found room in it).
        public var tookEveryEvent: Bool
        /// It began or went on with judging every customer again (a model fitted, other settings):
        /// the steps after it have customers to judge even with no event and no tick due.
        public var judgedAgain = false
    }

    /// `run` beside writers that keep appending (the service's intake), one bounded step at a time:
    /// a step reads and decides in one snapshot without taking the write lock, then writes its
    /// outcome in a short transaction. Call it until a step is complete.
    ///
    /// A run inside one write transaction would hold every appender back for as long as it decides;
    /// a run over a large backlog (the engine fell behind) or over the day's ticks of a whole shop
    /// (every customer on a Monday) would hold them back for longer than they wait. A step takes at
    /// most `maxCustomers` customers:
    /// - when the events after the checkpoint are about more, it takes the events up to the last
    ///   one that keeps within the bound, and leaves the clock where those events put it (each
    ///   customer ticks up to each of their events as it applies, so stopping between events
    ///   decides as one run would; the clock up to `now` waits for the step that reaches the end);
    /// - otherwise it takes every event, adds the customers with a tick due up to the bound (the
    ///   earliest due first), and brings those it holds up to `now`; the rest wait for the next step.
    /// A model fitted since the checkpoint, or other settings, needs every customer judged again
    /// (`mustJudgeEveryone`). Judged in one run inside the write lock, a shop of 50,000 customers held
    /// the intake's requests back for 24 s (tools/results/serve-load.md), and the time grows with the
    /// customers. Steps do it instead: one short transaction records the settings and the model as
    /// judged and starts a walk over the stored customers by id (`reactor_meta.judging_after`); every
    /// step that took every event then fills its room with the next customers of the walk, brings
    /// them up to `now` and records their next ticks, as a run of everyone would, and moves the walk
    /// on in its own transaction. A batch run (`run`) while a walk is under way judges everyone and
    /// ends it. A shop's first run (no settings recorded yet) still runs as `run` does.
    ///
    /// If another run moved the checkpoint meanwhile, nothing is written and nil is returned: step
    /// again.
    ///
    /// `stepParallelism`: the engines a step decides on (nil: `parallelism`). A whole run keeps
    /// `parallelism`.
    public func runBesideWriters(until now: Timestamp, engine prototype: ReactorEngine, maxCustomers: Int,
                                 stepParallelism: Int? = nil) throws -> StepSummary? {
        let bound = max(1, maxCustomers)
        if prototype.recording { return StepSummary(run: try run(until: now, engine: prototype), complete: true, tookEveryEvent: true) }
        var start: Int64 = 0
        var wholeRun = false
        var beginsJudging = false
        var judgingAfter: String?
        var judgingNext: String?
        var walked = false
        var judged: [String] = []
        var decided: ReactorEngine?
        var complete = true
        var tookEveryEvent = true
        var summary = try database.onOneSnapshot { () throws -> RunSummary in
            start = try checkpoint()
            // Judged on the snapshot the step reads, so a model fitted meanwhile is not stepped over.
            if try mustJudgeEveryone(prototype) {
                wholeRun = try meta("configuration") == nil
                beginsJudging = !wholeRun
                return RunSummary()
            }
            judgingAfter = try meta(ReactorStore.judgingAfterKey)
            var needed = Set<String>()
            var taken = 0
            var stopsEarly = false
            let events = try database.prepare("SELECT customer FROM events WHERE position > ?1 ORDER BY position")
            events.bind(start, at: 1)
            while try events.step() {
                let customer = events.text(0) ?? ""
                if customer != EventType.systemCustomer && !needed.contains(customer) {
                    if needed.count == bound {
                        stopsEarly = true
                        break
                    }
                    needed.insert(customer)
                }
                taken += 1
            }
            if stopsEarly {
                complete = false
                tookEveryEvent = false
            } else {
                if let after = judgingAfter {
                    // The walk's next customers first: judged, their next ticks are recorded, and those that were
                    // due are no longer. Those taken for their events count as judged.
                    let walk = try database.prepare("SELECT customer FROM reactor_customers WHERE customer > ?1 ORDER BY customer")
                    walk.bind(after, at: 1)
                    var ended = true
                    while try walk.step() {
                        let customer = walk.text(0) ?? ""
                        if !needed.contains(customer) {
                            if needed.count == bound {
                                ended = false
                                break
                            }
                            needed.insert(customer)
                        }
                        judged.append(customer)
                    }
                    walked = true
                    judgingNext = ended ? nil : judged.last ?? after
                    if !ended { complete = false }
                }
                let due = try database.prepare("SELECT customer FROM reactor_customers WHERE next_tick IS NULL OR next_tick <= ?1 ORDER BY next_tick")
                due.bind(now.startOfUTCDay.millis, at: 1)
                while try due.step() {
                    let customer = due.text(0) ?? ""
                    if needed.contains(customer) { continue }
                    if needed.count == bound {
                        complete = false
                        break
                    }
                    needed.insert(customer)
                }
            }
            let plan = Plan(needed: needed, all: false, size: needed.count)
            let whole = parallelism
            if let stepParallelism { parallelism = max(1, stepParallelism) }
            defer { parallelism = whole }
            return try runPasses(prototype, until: now, withDueCommands: false, storeCheckpoint: false, plan: plan,
                                 limit: stopsEarly ? taken : .max, advance: !stopsEarly) { engine, _ in
                decided = engine
            }
        }
        if wholeRun { return StepSummary(run: try run(until: now, engine: prototype), complete: true, tookEveryEvent: true) }
        if beginsJudging {
            return try database.inTransaction {
                guard try checkpoint() == start, try mustJudgeEveryone(prototype) else { return nil }
                try beginJudgingEveryone(prototype)
                var begun = RunSummary()
                begun.checkpoint = start
                return StepSummary(run: begun, complete: false, tookEveryEvent: false, judgedAgain: true)
            }
        }
        guard var engine = decided else { return nil }
        // The rows are made before the write lock is taken: the intake's commits wait for it.
        let prepared = prepareSave(&engine, judgedAgain: judged)
        // How long the write lock is held, its commit included (writing the transaction's pages
        // to the WAL): what the intake's commits wait for.
        var locked: ContinuousClock.Instant?
        var outcome = try database.inTransaction { () throws -> StepSummary? in
            locked = ContinuousClock.now
            // Another run moved the checkpoint or the walk (a batch run ends it): decide again.
            guard try checkpoint() == start, try meta(ReactorStore.judgingAfterKey) == judgingAfter else { return nil }
            summary.written += try write(prepared)
            try setMeta("checkpoint", String(summary.checkpoint))
            if walked {
                if let next = judgingNext { try setMeta(ReactorStore.judgingAfterKey, next) } else { try endJudgingEveryone() }
            }
            return StepSummary(run: summary, complete: complete, tookEveryEvent: tookEveryEvent, judgedAgain: walked)
        }
        if let locked { outcome?.run.saveSeconds += ReactorStore.seconds(since: locked) }
        return outcome
    }

    /// `run`, except when every customer must be judged again under the settings already recorded (a
    /// model fitted, or a walk the service began): then in steps of `customersPerPass` customers, as
    /// the service's engine judges them (`runBesideWriters`), each written in a short transaction of
    /// its own. One run holds the write lock for as long as it judges (12.5 s for 50,000 customers),
    /// and a service on the same file then failed its requests after waiting ten seconds for it
    /// ("database is locked", tools/results/serve-load.md).
    ///
    /// A first run, and a run with other settings than those recorded, stay one run. Other settings
    /// in steps beside a service that has its own would never end: each would begin its walk again
    /// over the other's. In one run they end, and the service then judges everyone under its own.
    public func runJudgingEveryoneInSteps(until now: Timestamp, engine prototype: ReactorEngine) throws -> RunSummary {
        let fingerprint = prototype.configuration.fingerprint
        func walking() throws -> Bool {
            try database.onOneSnapshot {
                try judgedConfiguration() == fingerprint && (try mustJudgeEveryone(prototype) || isJudgingEveryone())
            }
        }
        var total = RunSummary()
        total.passes = 0
        var conflicts = 0
        while try walking() {
            guard let step = try runBesideWriters(until: now, engine: prototype, maxCustomers: customersPerPass) else {
                // Another run moved the checkpoint or the walk while this step decided: a service on the
                // file, whose steps are shorter. It walks too; look again in a moment, and go on when it has
                // done (a step that lost every time would never end while it commits).
                conflicts += 1
                Thread.sleep(forTimeInterval: min(1, 0.05 * Double(conflicts)))
                continue
            }
            total.steps += 1
            total.add(step.run)
        }
        // What is left (events since, ticks due, or a walk under other settings) in one run, as always:
        // short once everyone is judged.
        let rest = try run(until: now, engine: prototype)
        if total.steps > 0 { total.steps += 1 }
        total.add(rest)
        return total
    }

    /// Whether a walk judging every customer again (`runBesideWriters`) is under way.
    public func isJudgingEveryone() throws -> Bool { try meta(ReactorStore.judgingAfterKey) != nil }

    /// The fingerprint of the settings the outbox was last judged under (nil before a first run).
    public func judgedConfiguration() throws -> String? { try meta("configuration") }

    /// Where the walk of `runBesideWriters` over every customer stands: the last customer id judged
    /// again ("" before the first). Absent when no walk is under way.
    static let judgingAfterKey = "judging_after"
    /// The position of the last model fitted when a walk began: judged, though the checkpoint may
    /// not have reached it yet.
    static let judgedModelKey = "judged_model"

    /// Records the settings and the latest model as judged, and starts the walk (inside the write transaction).
    private func beginJudgingEveryone(_ prototype: ReactorEngine) throws {
        try setMeta("configuration", prototype.configuration.fingerprint)
        let model = try log.lastEvent(of: .modelFitted, in: EventType.systemCustomer)?.position ?? 0
        try setMeta(ReactorStore.judgedModelKey, String(model))
        try setMeta(ReactorStore.judgingAfterKey, "")
    }

    private func endJudgingEveryone() throws {
        try database.cached("DELETE FROM reactor_meta WHERE key = ?1").run([.text(ReactorStore.judgingAfterKey)])
    }

    /// At most this many customers are held in memory at once: a run over more goes over the log in
    /// passes, each with its share of the customers (by a hash of their id), each written away before
    /// the next. The decisions are the same for any number of passes.
    public var customersPerPass = 10_000

    /// Which customers a run needs: those listed, or every stored one (and any new ones).
    struct Plan {
        var needed: Set<String>
        var all: Bool
        /// Where a bounded release stopped in the due commands (nil: it went through them all).
        var releasedUpTo: ReleaseCursor?
        /// How many customers the run will hold, about.
        var size: Int
    }

    /// The customers a run up to `now` needs: those with events after the checkpoint, those whose
    /// next tick is due, and (for a dispatch) those with a command due. Customers are independent,
    /// so the others can stay on disk; when most are needed anyway, all are loaded in one pass.
    ///
    /// `judgingEveryone` false: when every customer must be judged again (and the settings were
    /// judged before), the walk of `runBesideWriters` is begun (inside the caller's write
    /// transaction) or left going, and only the customers above are taken. The run may then pass a
    /// model's event, and the walk still judges everyone under it.
    ///
    /// `bound`: the customers with a command due are taken at most `bound.customers` at a time, in
    /// the order of their due commands from `bound.after` on, and customers whose next tick is due
    /// are left to the live engine (which takes them in steps); see `releaseForDelivery`.
    func plan(_ prototype: ReactorEngine, until now: Timestamp, withDueCommands: Bool, judgingEveryone: Bool = true,
              bound: (customers: Int, after: ReleaseCursor?)? = nil) throws -> Plan {
        let checkpoint = try self.checkpoint()
        var needed = Set<String>()
        func collect(_ sql: String, _ values: [SQLValue]) throws {
            let statement = try database.prepare(sql)
            try statement.bind(values)
            while try statement.step() { if let customer = statement.text(0) { needed.insert(customer) } }
        }
        // The system's stream (models fitted) is nobody's: it goes to every pass.
        try collect("SELECT DISTINCT customer FROM events WHERE position > ?1 AND customer <> ?2",
                    [.int(checkpoint), .text(EventType.systemCustomer)])
        var releasedUpTo: ReleaseCursor?
        if let bound {
            releasedUpTo = try dueCustomers(by: now, atMost: bound.customers, after: bound.after, into: &needed)
        } else {
            try collect("SELECT customer FROM reactor_customers WHERE next_tick IS NULL OR next_tick <= ?1", [.int(now.startOfUTCDay.millis)])
            if withDueCommands {
                // Not DISTINCT (`needed` is a set): SQLite then walked the whole index by customer
                // instead of the pending commands by due time.
                try collect("SELECT customer FROM outbox WHERE status = 'pending' AND due <= ?1", [.int(now.millis)])
            }
        }
        let known = try database.scalarInt("SELECT count(*) FROM reactor_customers") ?? 0
        // A walk over every customer begun by the service is finished here, at once, unless told otherwise.
        var everyone = try mustJudgeEveryone(prototype)
        if everyone && !judgingEveryone, try judgedConfiguration() != nil {
            try beginJudgingEveryone(prototype)
            everyone = false
        }
        // A bounded release takes its customers however many the shop has: loading everyone would undo the bound.
        let all = try everyone || (judgingEveryone && isJudgingEveryone()) || (bound == nil && Int64(needed.count) * 2 >= known)
        return Plan(needed: needed, all: all, releasedUpTo: all ? nil : releasedUpTo, size: all ? max(Int(known), needed.count) : needed.count)
    }

    /// Adds to `customers` the next `atMost` customers with a pending command due by `now`, in the
    /// order of those commands (due time, then row) from just after `cursor`; returns where it
    /// stopped, or nil when it went through them all.
    ///
    /// A page, not the earliest due each time: commands handed to delivery stay pending until their
    /// delivery is recorded, and those quiet hours hold stay pending at their old due time, so the
    /// earliest due can be the same customers release after release; a page moves on past them.
    private func dueCustomers(by now: Timestamp, atMost limit: Int, after cursor: ReleaseCursor?,
                              into customers: inout Set<String>) throws -> ReleaseCursor? {
        // By the index of pending commands by due time: SQLite sorts only commands of the same due time by row.
        let due = try database.prepare("""
            SELECT customer, due, rowid FROM outbox WHERE status = 'pending' AND due <= ?1 AND (due, rowid) > (?2, ?3)
            ORDER BY due, rowid
            """)
        try due.bind([.int(now.millis), .int(cursor?.due ?? Int64.min), .int(cursor?.row ?? Int64.min)])
        var taken = Set<String>()
        var last: ReleaseCursor?
        while try due.step() {
            let customer = due.text(0) ?? ""
            if !taken.contains(customer) {
                if taken.count >= max(1, limit) {
                    customers.formUnion(taken)
                    return last
                }
                taken.insert(customer)
            }
            last = ReleaseCursor(due: due.int64(1), row: due.int64(2))
        }
        customers.formUnion(taken)
        return nil
    }

    /// A stored next tick holds for the model and settings it was judged under: a model fitted since
    /// the checkpoint, or other settings, may move it, so every customer is judged again.
    func mustJudgeEveryone(_ prototype: ReactorEngine) throws -> Bool {
        // A model whose walk began (`runBesideWriters`) is judged, though the checkpoint may be behind it.
        let judged = max(try checkpoint(), try meta(ReactorStore.judgedModelKey).flatMap { Int64($0) } ?? 0)
        let modelSince = try log.lastEvent(of: .modelFitted, in: EventType.systemCustomer).map { $0.position > judged } ?? false
        return try modelSince || meta("configuration") != prototype.configuration.fingerprint
    }

    /// Loads the persisted engine (call inside a transaction) with the customers of `plan` in `pass`.
    ///
    /// `stored`, for a run of every customer in several passes: this pass's stored customers, found
    /// once for the whole run (see `storedCustomers(among:)`).
    func load(_ prototype: ReactorEngine, _ plan: Plan, pass: Int, of passes: Int, coPurchases: CoPurchaseTable,
              stored: [String]? = nil) throws -> ReactorEngine {
        var engine = prototype
        if engine.personalData == nil { engine.personalData = log.vault.map { RememberingOpener($0) } }
        loadedCustomers = 0
        loadedAll = plan.all
        let mine = { (customer: String) in ReactorShards.pass(of: customer, among: passes) == pass }
        if let stored {
            for customer in stored { try loadCustomers(into: &engine, customer: customer, where: { _ in true }) }
        } else if plan.all {
            try loadCustomers(into: &engine, customer: nil, where: mine)
        } else {
            for customer in plan.needed.sorted() where mine(customer) { try loadCustomers(into: &engine, customer: customer, where: mine) }
        }
        // The birthday play opens sealed birthdays: their keys fetched together, not one lookup each.
        engine.personalData?.prepare(customers: engine.customers.values.compactMap { $0.state.sealedBirthday == nil ? nil : $0.state.customer })
        engine.coPurchaseCounts = coPurchases
        // The model in force is the latest one fitted at or before the checkpoint.
        if let model = try log.lastEvent(of: .modelFitted, in: EventType.systemCustomer, through: try checkpoint()) {
            engine.forecaster = engine.makeForecaster(model.event)
        }
        _ = engine.takeChanges()
        return engine
    }

    /// Loads one customer's (or every customer's) state and commands, commands in the order they were
    /// written; with `keep`, only the customers it keeps.
    private func loadCustomers(into engine: inout ReactorEngine, customer: String?, where keep: (String) -> Bool) throws {
        let filter = customer == nil ? "" : " WHERE customer = ?1"
        // One customer at a time is the path of every step and of a run in passes: kept prepared.
        let states = try customer == nil ? database.prepare("SELECT customer, state, clock FROM reactor_customers")
            : database.cached("SELECT customer, state, clock FROM reactor_customers" + filter)
        let commands = try customer == nil ? database.prepare("SELECT \(ReactorStore.commandColumns) FROM outbox ORDER BY rowid")
            : database.cached("SELECT \(ReactorStore.commandColumns) FROM outbox" + filter + " ORDER BY rowid")
        defer {
            states.reset()
            commands.reset()
        }
        if let customer {
            states.bind(customer, at: 1)
            commands.bind(customer, at: 1)
        }
        while try states.step() {
            guard keep(states.text(0) ?? "") else { continue }
            loadedCustomers += 1
            let state = try states.withBytes(1) { try CustomerStateBinaryCodec.decode(UnsafeRawBufferPointer($0)) }
            engine.customers[state.customer] = ReactorEngine.Customer(
                state: state, clock: states.isNull(2) ? nil : Timestamp(millis: states.int64(2)))
        }
        while try commands.step() {
            if keep(commands.text(1) ?? "") { engine.insert(try ReactorStore.decodeCommand(commands)) }
        }
    }

    /// The stored customers of each of `passes` passes, from one read of their ids. A run of every
    /// customer in passes loads each pass's by key: scanning the tables for each pass read every row
    /// the passes before it had written as well, a cost that grew with the square of the passes.
    private func storedCustomers(among passes: Int) throws -> [[String]] {
        var byPass = [[String]](repeating: [], count: passes)
        let rows = try database.prepare("SELECT customer FROM reactor_customers ORDER BY customer")
        while try rows.step() {
            let customer = rows.text(0) ?? ""
            byPass[ReactorShards.pass(of: customer, among: passes)].append(customer)
        }
        return byPass
    }

    /// The co-purchase counts as the last run left them: those `coPurchaseMemory` holds while they
    /// are still the stored ones, else read from their rows (and remembered).
    func storedCoPurchases() throws -> CoPurchaseTable {
        let token = try meta(ReactorStore.coPurchasesTokenKey)
        if let token, let held = coPurchaseMemory?.table(ifToken: token) { return held }
        let rows = try database.prepare("SELECT sku, after, count FROM reactor_co_purchases")
        var pairs: [CoPurchasePair] = []
        while try rows.step() { pairs.append(CoPurchasePair(previous: rows.text(0) ?? "", sku: rows.text(1) ?? "", count: Int(rows.int64(2)))) }
        let table = CoPurchaseTable(stored: pairs)
        if let token { coPurchaseMemory?.hold(table, token: token) }
        return table
    }

    /// The stored states of the customers with events after `checkpoint`: what the first of several
    /// passes folds their orders from, for cross-sell.
    private func statesWithEvents(after checkpoint: Int64) throws -> [String: CustomerState] {
        let rows = try database.prepare("""
            SELECT state FROM reactor_customers WHERE customer IN (SELECT DISTINCT customer FROM events WHERE position > ?1)
            """)
        rows.bind(checkpoint, at: 1)
        var states: [String: CustomerState] = [:]
        while try rows.step() {
            let state = try rows.withBytes(0) { try CustomerStateBinaryCodec.decode(UnsafeRawBufferPointer($0)) }
            states[state.customer] = state
        }
        return states
    }

    /// Events handed to the shards at a time: the longer, the less often the threads wait for each
    /// other; the shorter, the less of the log is held in memory.
    static let stretch = 50_000

    /// Brings the customers a run needs up to `now`, pass by pass (see `customersPerPass`): each
    /// pass loads its customers, feeds them every event after the checkpoint and the clock, and hands
    /// its engine to `finish` (to write it away) before the next pass loads. Sets the new checkpoint.
    ///
    /// `given` replaces the plan the run would make; `limit` stops after that many events of the log;
    /// `advance` false leaves the clock where the events left it (a run that stops before the
    /// log's end: its customers' ticks between their events happen as they apply; the clock up to
    /// `now` waits for the run that reaches the end).
    func runPasses(_ prototype: ReactorEngine, until now: Timestamp, withDueCommands: Bool, storeCheckpoint: Bool = true,
                   plan given: Plan? = nil, limit: Int = .max, advance: Bool = true,
                   finishShards: ((inout [ReactorEngine], inout RunSummary) throws -> Void)? = nil,
                   _ finish: (inout ReactorEngine, inout RunSummary) throws -> Void) throws -> RunSummary {
        let started = ContinuousClock.now
        let plan = try given ?? plan(prototype, until: now, withDueCommands: withDueCommands)
        // An engine recording why each command changed keeps one record list, in log order: one
        // engine, one pass.
        let passes = prototype.recording ? 1 : max(1, (plan.size + customersPerPass - 1) / max(1, customersPerPass))
        let checkpoint = try self.checkpoint()
        var summary = RunSummary()
        summary.checkpoint = checkpoint
        summary.loadSeconds = ReactorStore.seconds(since: started)
        var feed: CoPurchaseFeed?
        // As the run found them: a pass writes the counts it ends with, and the next starts again
        // from these with the whole feed.
        let coPurchases = try storedCoPurchases()
        var stored = plan.all && passes > 1 ? try storedCustomers(among: passes) : nil
        // Gathered by the first of several passes, which reads every event: where each later pass's are.
        var found: PassPositions?
        for pass in 0..<passes {
            let loading = ContinuousClock.now
            var engine = try load(prototype, plan, pass: pass, of: passes, coPurchases: coPurchases,
                                  stored: stored.map { $0[pass] })
            stored?[pass] = []
            summary.customersLoaded += loadedCustomers
            summary.loadSeconds += ReactorStore.seconds(since: loading)
            let before = engine.commandCount
            // Set when the pass's shards are saved as they are (`finishShards`), not merged.
            var spentShards: [ReactorEngine]?
            let reading = ContinuousClock.now
            var ticking = reading
            var events = 0
            if passes == 1 && (parallelism == 1 || engine.recording) {
                try log.read(after: checkpoint, limit: limit, includeMeta: false) { recorded in
                    engine.apply(recorded.event)
                    summary.checkpoint = recorded.position
                    events += 1
                }
                ticking = ContinuousClock.now
                if advance { engine.advance(to: now) }
            } else {
                // The first of several passes folds every customer with events for cross-sell, from
                // their states before the run; one pass has them all loaded already.
                let states = passes > 1 && feed == nil ? try statesWithEvents(after: checkpoint) : nil
                var shards = ReactorShards(engine, count: parallelism, pass: pass, of: passes, feed: feed, states: states)
                engine = ReactorEngine(configuration: prototype.configuration)  // let go of the split copy
                engine.personalData = prototype.personalData ?? log.vault.map { RememberingOpener($0) }
                var stretch: [Event] = []
                var positions: [Int64] = []
                stretch.reserveCapacity(ReactorStore.stretch)
                positions.reserveCapacity(ReactorStore.stretch)
                // A pass decodes its own customers' events and those every shard takes (a new
                // model). The first also folds every customer's orders for the co-purchase counts:
                // it decodes every order event too, and no other event of another pass's customers
                // (they teach cross-sell nothing, and were most of what it parsed).
                let first = feed == nil
                var last = checkpoint
                let system = Array(EventType.systemCustomer.utf8)
                let modelFitted = Array(EventType.modelFitted.rawValue.utf8)
                let orderPlaced = Array(EventType.orderPlaced.rawValue.utf8)
                let orderCancelled = Array(EventType.orderCancelled.rawValue.utf8)
                func take(_ event: Event, at position: Int64) {
                    stretch.append(event)
                    positions.append(position)
                    if stretch.count == ReactorStore.stretch {
                        shards.apply(stretch, at: positions)
                        stretch.removeAll(keepingCapacity: true)
                        positions.removeAll(keepingCapacity: true)
                    }
                }
                if !first, let found, found.complete {
                    // The events the first pass read, this pass's own by their positions.
                    try log.read(at: found.positions(of: pass), includeMeta: false) { take($0.event, at: $0.position) }
                    last = found.last
                    events = found.count
                    summary.checkpoint = max(summary.checkpoint, last)
                } else {
                    if first && passes > 1 { found = PassPositions(passes: passes, after: checkpoint) }
                    var rowPass: Int?
                    try log.read(after: checkpoint, limit: limit, includeMeta: false, fewSelected: !first, decoding: { customer, type in
                        // Every pass takes the system's events and a new model.
                        let everyPass = customer.elementsEqual(system) || type.elementsEqual(modelFitted)
                        let customersPass = everyPass ? nil : ReactorShards.pass(ofUTF8: customer, among: passes)
                        if found != nil { rowPass = customersPass }
                        return customersPass == nil || customersPass == pass
                            || (first && (type.elementsEqual(orderPlaced) || type.elementsEqual(orderCancelled)))
                    }) { position, recorded in
                        summary.checkpoint = position
                        last = position
                        events += 1
                        found?.note(position, pass: rowPass)
                        guard let recorded else { return }
                        take(recorded.event, at: position)
                    }
                }
                shards.apply(stretch, at: positions, through: last)
                ticking = ContinuousClock.now
                if advance { shards.advance(to: now) }
                feed = shards.feed
                // Each shard's changes saved as they are: merging the shards' customers and command
                // ids into one engine first only to take its changes cost as much as preparing
                // them, on one thread.
                if finishShards != nil { spentShards = shards.takeEngines() } else { engine = shards.merged() }
            }
            summary.events = events
            summary.eventSeconds += ReactorStore.seconds(since: reading) - ReactorStore.seconds(since: ticking)
            summary.clockSeconds += ReactorStore.seconds(since: ticking)
            if let finishShards, var engines = spentShards {
                spentShards = nil  // the engines' one reference goes to the thread that frees them
                summary.scheduled += engines.reduce(0) { $0 + $1.commandCount } - before
                try finishShards(&engines, &summary)
                ReactorStore.letGo(&engines, thenTrim: passes > 1)
            } else {
                summary.scheduled += engine.commandCount - before
                try finish(&engine, &summary)
                ReactorStore.letGo(&engine, thenTrim: passes > 1)
            }
        }
        if storeCheckpoint { try setMeta("checkpoint", String(summary.checkpoint)) }
        summary.passes = passes
        return summary
    }

    /// Where each pass's events are in the part of the log a run in passes reads, noted by the first
    /// pass, which reads every event (it folds every customer's orders for cross-sell): a later pass
    /// then reads its own customers' events by position. Stepping over the whole log in every pass
    /// made a million customers' run read its eleven million events a hundred times.
    ///
    /// The positions are kept as offsets from the checkpoint, four bytes each; a log whose part
    /// reaches past that (four billion events) is not noted (`complete` false), and its later
    /// passes step over the log as before.
    struct PassPositions {
        let start: Int64
        private var byPass: [[UInt32]]
        /// The events every pass takes: the system's, a new model.
        private var everyPass: [UInt32] = []
        private(set) var last: Int64
        private(set) var count = 0
        private(set) var complete = true

        init(passes: Int, after checkpoint: Int64) {
            start = checkpoint
            last = checkpoint
            byPass = Array(repeating: [], count: passes)
        }

        /// The event at `position` is one pass's (nil: every pass's). Called in log order.
        mutating func note(_ position: Int64, pass: Int?) {
            guard complete else { return }
            let offset = position - start
            guard offset > 0, offset <= Int64(UInt32.max), byPass.indices.contains(pass ?? 0) else {
                complete = false
                byPass = []
                everyPass = []
                return
            }
            if let pass { byPass[pass].append(UInt32(offset)) } else { everyPass.append(UInt32(offset)) }
            last = position
            count += 1
        }

        /// The positions a pass reads, in log order.
        func positions(of pass: Int) -> [Int64] {
            let own = byPass[pass]
            var merged: [Int64] = []
            merged.reserveCapacity(own.count + everyPass.count)
            var (i, j) = (0, 0)
            while i < own.count || j < everyPass.count {
                if j == everyPass.count || (i < own.count && own[i] < everyPass[j]) {
                    merged.append(start + Int64(own[i]))
                    i += 1
                } else {
                    merged.append(start + Int64(everyPass[j]))
                    j += 1
                }
            }
            return merged
        }
    }

    /// Writes what changed (call inside the transaction that advanced the engine); returns how many
    /// commands and customers it wrote.
    @discardableResult
    func save(_ engine: inout ReactorEngine) throws -> Int {
        // Inside the transaction already: the payloads are made while the rows go in (`write`).
        try write(prepareSave(&engine, payloadsNow: false))
    }

    /// `save` of engines holding disjoint customers (a run's shards): each one's rows prepared on
    /// its own thread, then written one engine after another in the same transaction. What they
    /// share (the co-purchase counts, the settings) each holds alike: written once.
    @discardableResult
    func saveShards(_ engines: inout [ReactorEngine]) throws -> Int {
        guard engines.count > 1 else { return engines.isEmpty ? 0 : try save(&engines[0]) }
        let prepared = PreparedSaves(count: engines.count)
        let all = loadedAll
        engines.withUnsafeMutableBufferPointer { buffer in
            let shards = SendableEngines(buffer: buffer)
            DispatchQueue.concurrentPerform(iterations: shards.buffer.count) { i in
                prepared.put(ReactorStore.prepareSave(&shards.buffer[i], loadedAll: all, payloadsNow: false), at: i)
            }
        }
        var saves = prepared.take()
        for i in saves.indices.dropFirst() {
            // The counts and the settings are the same in every shard: the first writes them.
            if saves[0].coPurchases == nil { saves[0].coPurchases = saves[i].coPurchases }
            if saves[0].configuration == nil { saves[0].configuration = saves[i].configuration }
            saves[i].coPurchases = nil
            saves[i].configuration = nil
        }
        return try saves.reduce(0) { $0 + (try write($1)) }
    }

    /// The shards' engines, each prepared by one thread alone.
    private struct SendableEngines: @unchecked Sendable {
        let buffer: UnsafeMutableBufferPointer<ReactorEngine>
    }

    /// Each shard's prepared rows, written by its own thread into its own slot.
    private final class PreparedSaves: @unchecked Sendable {
        private var slots: [PreparedSave]
        private let lock = NSLock()
        init(count: Int) { slots = Array(repeating: PreparedSave(), count: count) }
        func put(_ save: PreparedSave, at i: Int) { lock.withLock { slots[i] = save } }
        func take() -> [PreparedSave] { lock.withLock { slots } }
    }

    /// The rows a save writes, made before its transaction: states encoded, payloads written, next
    /// ticks judged. The live engine makes them before it takes the write lock, which the intake's
    /// commits wait for, so the lock is held only to bind and step.
    struct PreparedSave {
        /// Next ticks of customers whose commands changed without their state.
        var nextTicks: [(customer: String, tick: Int64)] = []
        /// Each customer's state, and its clock and next tick once it has a clock.
        var customers: [(customer: String, state: [UInt8], timing: (clock: Int64, nextTick: Int64)?)] = []
        var commands: [Command] = []
        /// The commands' payload texts, or nil for `write` to make them as it goes.
        var payloads: [String]? = []
        /// The co-purchase pairs whose counts changed, and the counts as they are after the save,
        /// with the token they are stored under (for `coPurchaseMemory`); nil when none changed.
        var coPurchases: (pairs: [CoPurchasePair], table: CoPurchaseTable, token: String)?
        /// The configuration's fingerprint, when every customer was in memory.
        var configuration: String?
    }

    /// `judgedAgain`: customers judged again under new settings or a new model, whose next ticks are
    /// recorded whether or not anything of theirs changed.
    ///
    /// `payloadsNow` false leaves the commands' payload texts to `write`, which makes each chunk's on
    /// another thread while it inserts the chunk before.
    func prepareSave(_ engine: inout ReactorEngine, judgedAgain again: [String] = [], payloadsNow: Bool = true) -> PreparedSave {
        ReactorStore.prepareSave(&engine, loadedAll: loadedAll, judgedAgain: again, payloadsNow: payloadsNow)
    }

    /// `prepareSave`, given whether every customer was loaded (`loadedAll`): it touches nothing of
    /// the store, so a run's shards are prepared on their own threads.
    static func prepareSave(_ engine: inout ReactorEngine, loadedAll: Bool, judgedAgain again: [String] = [],
                            payloadsNow: Bool = true) -> PreparedSave {
        let changes = engine.takeChanges()
        var prepared = PreparedSave()
        // Customers whose commands changed without their state (a dispatch) may have a new next tick too.
        var judgedAgain = Set(changes.commands.map(\.customer)).union(again)
        if loadedAll {
            // Every customer was in memory: record each one's next tick, so later runs load only those due.
            judgedAgain = Set(engine.customers.keys)
            prepared.configuration = engine.configuration.fingerprint
        }
        // The customers written below get theirs with their state.
        judgedAgain.subtract(changes.customers.map(\.state.customer))
        for id in judgedAgain.sorted() {
            guard let customer = engine.customers[id], customer.clock != nil else { continue }
            prepared.nextTicks.append((id, ReactorStore.storedNextTick(engine, customer)))
        }
        prepared.customers = changes.customers.map { customer in
            (customer.state.customer, CustomerStateBinaryCodec.encode(customer.state),
             customer.clock.map { ($0.millis, ReactorStore.storedNextTick(engine, customer)) })
        }
        prepared.payloads = payloadsNow ? ReactorStore.payloadTexts(changes.commands) : nil
        prepared.commands = changes.commands
        if changes.coPurchasesChanged {
            let pairs = engine.takeCoPurchaseChanges()
            if !pairs.isEmpty { prepared.coPurchases = (pairs, engine.coPurchaseCounts, ReactorStore.newToken()) }
        }
        return prepared
    }

    /// Writes prepared rows (inside the caller's transaction); returns how many commands and customers.
    func write(_ prepared: PreparedSave) throws -> Int {
        if let fingerprint = prepared.configuration {
            try setMeta("configuration", fingerprint)
            try endJudgingEveryone()
        }
        let setNextTick = try database.cached("UPDATE reactor_customers SET next_tick = ?2 WHERE customer = ?1")
        for (customer, tick) in prepared.nextTicks {
            setNextTick.bind(customer, at: 1)
            setNextTick.bind(tick, at: 2)
            try setNextTick.step()
            setNextTick.reset()
        }
        let upsertCustomer = try database.cached("""
            INSERT INTO reactor_customers (customer, state, clock, next_tick) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT(customer) DO UPDATE SET state = excluded.state, clock = excluded.clock, next_tick = excluded.next_tick
            """)
        for customer in prepared.customers {
            upsertCustomer.bind(customer.customer, at: 1)
            upsertCustomer.bind(bytes: customer.state, at: 2)
            if let (clock, nextTick) = customer.timing {
                upsertCustomer.bind(clock, at: 3)
                upsertCustomer.bind(nextTick, at: 4)
            } else {
                upsertCustomer.bindNull(at: 3)
                upsertCustomer.bindNull(at: 4)
            }
            try upsertCustomer.step()
            upsertCustomer.reset()
        }
        // A first run's outbox has no index on its ids until its rows are in (nor any row to update).
        let upsertCommand = try database.cached(appendsOnly ? """
            INSERT INTO outbox (id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
            """ : """
            INSERT INTO outbox (id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
            ON CONFLICT(id) DO UPDATE SET channel = excluded.channel, due = excluded.due, status = excluded.status,
                status_reason = excluded.status_reason, cancelled_by = excluded.cancelled_by
            """)
        try ReactorStore.withPayloads(of: prepared.commands, given: prepared.payloads) { command, payload in
            let (status, reason, by) = ReactorStore.statusColumns(command.status)
            upsertCommand.bind(command.id, at: 1)
            upsertCommand.bind(command.customer, at: 2)
            upsertCommand.bind(command.kind.rawValue, at: 3)
            upsertCommand.bind(command.channel.rawValue, at: 4)
            upsertCommand.bind(command.due.millis, at: 5)
            upsertCommand.bind(payload, at: 6)
            upsertCommand.bind(command.reason, at: 7)
            upsertCommand.bind(command.priority.rawValue, at: 8)
            upsertCommand.bind(status, at: 9)
            upsertCommand.bind(optional: reason, at: 10)
            upsertCommand.bind(optional: by, at: 11)
            upsertCommand.bind(command.trigger, at: 12)
            try upsertCommand.step()
            upsertCommand.reset()
        }
        if let coPurchases = prepared.coPurchases {
            let upsertPair = try database.cached("""
                INSERT INTO reactor_co_purchases (sku, after, count) VALUES (?1, ?2, ?3)
                ON CONFLICT(sku, after) DO UPDATE SET count = excluded.count
                """)
            for pair in coPurchases.pairs {
                upsertPair.bind(pair.previous, at: 1)
                upsertPair.bind(pair.sku, at: 2)
                upsertPair.bind(Int64(pair.count), at: 3)
                try upsertPair.step()
                upsertPair.reset()
            }
            try setMeta(ReactorStore.coPurchasesTokenKey, coPurchases.token)
            // Held before the commit: if the transaction rolls back, the stored token is still the
            // old one, and the next load reads the rows.
            coPurchaseMemory?.hold(coPurchases.table, token: coPurchases.token)
        }
        return prepared.commands.count + prepared.customers.count
    }

    /// Commands whose payload texts one chunk of `withPayloads` makes ahead of the rows.
    static let payloadChunk = 4_096

    /// Calls `body` with each command and its payload text, in order: the texts `given`, or texts
    /// made a chunk ahead on another thread while `body` takes the chunk before. A first run's
    /// hundreds of thousands of rows go in on one thread, one at a time; their texts, made first on
    /// every core, kept the rows waiting, and made beside them they need not
    /// (tools/results/million-customers.md).
    static func withPayloads(of commands: [Command], given: [String]?, _ body: (Command, String) throws -> Void) throws {
        if let given {
            for (command, payload) in zip(commands, given) { try body(command, payload) }
            return
        }
        let ahead = TextsAhead()
        let group = DispatchGroup()
        // Whatever `body` throws, the thread making the next chunk is done before this returns.
        defer { group.wait() }
        var texts = commands.prefix(payloadChunk).map { $0.storedPayload }
        var start = 0
        while start < commands.count {
            let next = start + texts.count
            if next < commands.count {
                let range = next..<min(next + payloadChunk, commands.count)
                DispatchQueue.global(qos: .userInitiated).async(group: group) {
                    ahead.texts = range.map { commands[$0].storedPayload }
                }
            }
            for (offset, text) in texts.enumerated() { try body(commands[start + offset], text) }
            group.wait()
            texts = ahead.texts
            ahead.texts = []
            start = next
        }
    }

    /// The texts of the next chunk, written by the thread that makes them before the group is left,
    /// read after `group.wait()`.
    private final class TextsAhead: @unchecked Sendable {
        var texts: [String] = []
    }

    /// The commands' payloads as the outbox stores them (JSON text), made on every core for a first
    /// run's hundreds of thousands: writing the rows can only go one at a time, making them need not.
    static func payloadTexts(_ commands: [Command]) -> [String] {
        let parts = commands.count < 4_096 ? 1 : max(1, ProcessInfo.processInfo.activeProcessorCount)
        guard parts > 1 else { return commands.map { $0.storedPayload } }
        let size = (commands.count + parts - 1) / parts
        let texts = UnsafeTexts(count: commands.count)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            for i in (part * size)..<min(commands.count, (part + 1) * size) {
                texts.put(commands[i].storedPayload, at: i)
            }
        }
        return texts.take()
    }

    /// Lets go of a spent engine on another thread: freeing a first run's hundreds of thousands of
    /// commands one by one would otherwise hold up the commit that follows.
    ///
    /// `thenTrim`: then hands the allocator's free pages back to the system. A run in passes frees
    /// a pass's customers, and the first pass's fold of every customer, while it goes on: their pages
    /// stayed with the process, and a million customers' first run crept towards 2 GiB.
    static func letGo(_ engine: inout ReactorEngine, thenTrim: Bool = false) {
        var spent = [ReactorEngine(configuration: engine.configuration)]
        swap(&spent[0], &engine)
        letGo(&spent, thenTrim: thenTrim)
    }

    /// `letGo` of several engines (a run's shards), freed one after another on one thread and then
    /// trimmed once: a trim that ran before the other shards were freed would hand back nothing of theirs.
    static func letGo(_ engines: inout [ReactorEngine], thenTrim: Bool = false) {
        let held = Held(engines)
        engines = []
        DispatchQueue.global(qos: .utility).async {
            held.engines = []
            if thenTrim { ProcessMemory.trim() }
        }
    }

    /// Engines handed to the thread that frees them.
    private final class Held: @unchecked Sendable {
        // Set once here, emptied once by the freeing thread.
        var engines: [ReactorEngine]
        init(_ engines: [ReactorEngine]) { self.engines = engines }
    }

    /// The next tick as stored: the first the clock must judge, or never (the largest time) when
    /// nothing but an event of theirs can make the customer's plays propose something. NULL, in
    /// databases from before, means "load it".
    static func storedNextTick(_ engine: ReactorEngine, _ customer: ReactorEngine.Customer) -> Int64 {
        engine.nextJudgedTick(of: customer)?.millis ?? Int64.max
    }

    // MARK: - Reading the outbox

    static let commandColumns = "id, customer, kind, channel, due, payload, reason, priority, status, status_reason, cancelled_by, trigger"

    static func statusColumns(_ status: CommandStatus) -> (String, String?, String?) {
        switch status {
        case .pending: ("pending", nil, nil)
        case .dispatched: ("dispatched", nil, nil)
        case .cancelled(let by, let reason): ("cancelled", reason, by)
        case .suppressed(let reason): ("suppressed", reason, nil)
        }
    }

    /// A command from an outbox row. A kind, channel, priority or status this build does not know
    /// (a later version wrote it), or a payload that is not a JSON object, is an error naming the
    /// command, never a guess.
    ///
    /// The payload is parsed when first read (`Command(storedPayload:)`): a run loads every command of
    /// its customers and reads the payloads of few. The names are matched as bytes.
    static func decodeCommand(_ s: Statement) throws -> Command {
        let id = s.text(0) ?? ""
        func known<T>(_ column: Int32, _ name: String, in table: NameTable<T>) throws -> T {
            if let i = s.index(column, among: table.names) { return table.values[i] }
            throw StoreError(.unknownStoredValue,
                             "outbox command \(id) has \(name) '\(s.text(column) ?? "")', which this build of aftersale does not know")
        }
        let status: CommandStatus
        switch try known(8, "status", in: ReactorStore.statusNames) {
        case .pending: status = .pending
        case .dispatched: status = .dispatched
        case .cancelled: status = .cancelled(byEventID: s.text(10) ?? "", reason: s.text(9) ?? "")
        case .suppressed: status = .suppressed(reason: s.text(9) ?? "")
        }
        // A later version's other form of payload is told here; the text inside the braces is this
        // program's own writing, parsed when a play first reads it (`Command.StoredPayload`).
        let isObject = s.withBytes(5) { bytes in
            var (first, last) = (bytes.startIndex, bytes.endIndex - 1)
            while first < last, bytes[first] == 0x20 || bytes[first] == 0x0A || bytes[first] == 0x09 || bytes[first] == 0x0D { first += 1 }
            while last > first, bytes[last] == 0x20 || bytes[last] == 0x0A || bytes[last] == 0x09 || bytes[last] == 0x0D { last -= 1 }
            return first < last && bytes[first] == UInt8(ascii: "{") && bytes[last] == UInt8(ascii: "}")
        }
        guard isObject else {
            throw StoreError(.unknownStoredValue, "outbox command \(id) has a payload that is not a JSON object")
        }
        return Command(id: id, customer: s.text(1) ?? "", kind: try known(2, "kind", in: ReactorStore.kindNames),
                       channel: try known(3, "channel", in: ReactorStore.channelNames), due: Timestamp(millis: s.int64(4)),
                       storedPayload: s.text(5) ?? "{}", reason: s.text(6) ?? "", priority: try known(7, "priority", in: ReactorStore.priorityNames),
                       status: status, trigger: s.text(11) ?? "")
    }

    /// The outbox's names of a kind of value, and the values they stand for.
    struct NameTable<T: Sendable>: Sendable {
        let names: [[UInt8]]
        let values: [T]

        init(_ entries: [(String, T)]) {
            names = entries.map { Array($0.0.utf8) }
            values = entries.map(\.1)
        }
    }

    enum StatusName: Sendable { case pending, dispatched, cancelled, suppressed }
    static let statusNames = NameTable<StatusName>([
        ("pending", .pending), ("dispatched", .dispatched), ("cancelled", .cancelled), ("suppressed", .suppressed),
    ])
    static let kindNames = NameTable(CommandKind.allCases.map { ($0.rawValue, $0) })
    static let channelNames = NameTable(Channel.allCases.map { ($0.rawValue, $0) })
    static let priorityNames = NameTable<CommandPriority>([(CommandPriority.normal.rawValue, .normal), (CommandPriority.high.rawValue, .high)])

    /// One command's status as the outbox holds it (`pending`, `cancelled`, `suppressed`,
    /// `dispatched`), nil when there is no such command.
    public func status(of id: String) throws -> String? {
        let s = try database.cached("SELECT status FROM outbox WHERE id = ?1")
        s.bind(id, at: 1)
        defer { s.reset() }
        return try s.step() ? s.text(0) : nil
    }

    /// Forgets `customer` (`EventLog.forget`), then takes out of the outbox what it derived from
    /// their personal data: what `aftersale forget` and the service's erasures call.
    public func forget(_ customer: String, reason: String?, request: String, id: String, at: Timestamp) throws -> ForgetOutcome {
        let outcome = try log.forget(customer, reason: reason, request: request, id: id, at: at, recorded: at)
        try eraseBirthdayDates(of: customer, at: at)
        return outcome
    }

    /// After `customer` was forgotten: their birthday offers not handed out lose the date they
    /// carried (their due time is the birthday): due moves to `at` and the reason says why. The
    /// reactor cancels the pending ones when it reads `customer.forgotten`. Returns how many.
    /// Offers already handed out keep their time, as the log's hand-off events do.
    @discardableResult
    func eraseBirthdayDates(of customer: String, at: Timestamp) throws -> Int {
        // The old text is zeroed where it was and the write-ahead log emptied, as `forget` does.
        try database.execute("PRAGMA secure_delete=ON")
        defer { try? database.execute("PRAGMA secure_delete=FAST") }
        try database.cached("""
            UPDATE outbox SET due = ?2, reason = 'birthday offer; its date was personal data and the customer was forgotten'
            WHERE customer = ?1 AND kind = ?3 AND status != 'dispatched'
            """).run([.text(customer), .int(at.millis), .text(CommandKind.birthdayOffer.rawValue)])
        let changed = database.changes
        try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed
    }

    /// Commands in due order, optionally one customer's, optionally only pending ones due by a time
    /// (and not before `dueFrom`).
    public func commands(customer: String? = nil, pendingDueBy: Timestamp? = nil, dueFrom: Timestamp? = nil) throws -> [Command] {
        let statement = try selection("SELECT \(ReactorStore.commandColumns) FROM outbox", customer: customer, pendingDueBy: pendingDueBy,
                                      dueFrom: dueFrom, order: " ORDER BY due, id")
        var commands: [Command] = []
        while try statement.step() { commands.append(try ReactorStore.decodeCommand(statement)) }
        return commands
    }

    /// How many commands there are of each kind and status, sorted by kind, then status: what a
    /// report shows, without reading the commands.
    public func commandCounts() throws -> [(kind: String, status: String, count: Int)] {
        // Counted here rather than by GROUP BY, for which SQLite sorted every command's kind and
        // status (0.17 s of a report at 10,000 customers, against 0.05 s to read them): a few dozen
        // pairs, each kept by its bytes, with no text made for a row.
        let statement = try database.prepare("SELECT kind, status FROM outbox")
        // Each pair found by a hash of its bytes (FNV-1a: one word for the dictionary to hash again),
        // its bytes compared on a hit; a pair whose hash another pair took tries the next word.
        // Hashing the bytes through a dictionary keyed by them cost more than SQLite's reading of the row.
        var slots: [UInt64: Int] = [:]
        var pairs: [(key: [UInt8], count: Int)] = []
        var key: [UInt8] = []
        while try statement.step() {
            key.removeAll(keepingCapacity: true)
            statement.withBytes(0) { key.append(contentsOf: $0) }
            key.append(0)
            statement.withBytes(1) { key.append(contentsOf: $0) }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in key { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            while true {
                guard let slot = slots[hash] else {
                    slots[hash] = pairs.count
                    pairs.append((key, 1))
                    break
                }
                if pairs[slot].key == key {
                    pairs[slot].count += 1
                    break
                }
                hash &+= 1
            }
        }
        return pairs.map { pair, count in
            let split = pair.firstIndex(of: 0) ?? pair.endIndex
            return (String(decoding: pair[..<split], as: UTF8.self), String(decoding: pair[(split + 1)...], as: UTF8.self), count)
        }.sorted { ($0.kind, $0.status) < ($1.kind, $1.status) }
    }

    /// How many commands `commands(customer:pendingDueBy:dueFrom:)` would give, without reading them:
    /// after years of history most pending commands are stale, and only their number is shown.
    public func commandCount(customer: String? = nil, pendingDueBy: Timestamp? = nil, dueFrom: Timestamp? = nil) throws -> Int {
        let statement = try selection("SELECT count(*) FROM outbox", customer: customer, pendingDueBy: pendingDueBy, dueFrom: dueFrom, order: "")
        return try statement.step() ? Int(statement.int64(0)) : 0
    }

    private func selection(_ head: String, customer: String?, pendingDueBy: Timestamp?, dueFrom: Timestamp?, order: String) throws -> Statement {
        var sql = head + " WHERE 1"
        var values: [SQLValue] = []
        if let customer {
            values.append(.text(customer))
            sql += " AND customer = ?\(values.count)"
        }
        if let pendingDueBy {
            values.append(.int(pendingDueBy.millis))
            sql += " AND status = 'pending' AND due <= ?\(values.count)"
        }
        if let dueFrom {
            values.append(.int(dueFrom.millis))
            sql += " AND due >= ?\(values.count)"
        }
        let statement = try database.prepare(sql + order)
        try statement.bind(values)
        return statement
    }

    // MARK: - Dispatch

    /// Hands due commands to `deliver`, then records each hand-off as an `action.dispatched` event
    /// and marks it dispatched, in one transaction.
    ///
    /// At least once: if the process dies after `deliver` and before the commit, the next dispatch
    /// hands out the same commands with the same ids (the receiver's idempotency keys). Over many
    /// customers `deliver` is called once per pass (see `customersPerPass`).
    public func dispatch(now: Timestamp, engine prototype: ReactorEngine, deliver: ([Command]) throws -> Void)
        throws -> (dispatched: [Command], suppressed: [Command]) {
        let result = try release(now: now, engine: prototype, inFlight: [], source: "aftersale dispatch", sentNow: true) { released in
            try deliver(released.map(\.command))
        }
        return (result.released, result.suppressed)
    }

    /// Due commands judged again by the contact rules and handed to `hand` with their customer's
    /// state, inside one transaction (a rollback, `hand` having thrown or a write having failed,
    /// undoes the hand-off events too; the log's cache of stream versions forgets them by itself).
    /// Each held back is recorded suppressed (an event and the outbox); each handed is recorded
    /// dispatched at once when `sentNow`, and otherwise stays pending for its delivery to record.
    private func release(now: Timestamp, engine prototype: ReactorEngine, inFlight: Set<String>, source: String, sentNow: Bool,
                         bound: (customers: Int, after: ReleaseCursor?)? = nil,
                         hand: ([(command: Command, state: CustomerState?)]) throws -> Void)
        throws -> (released: [Command], suppressed: [Command], upTo: ReleaseCursor?) {
        try database.inTransaction {
            var released: [Command] = []
            var suppressed: [Command] = []
            var events: [EncodedEvent] = []
            // Pass by pass (see `customersPerPass`); the hand-offs go into the log after the last, so
            // every pass reads the same log.
            // Delivery (the service's, every few seconds) leaves judging everyone to a walk: in one
            // run inside this transaction it held the service's commits back as long as it judged.
            let plan = try plan(prototype, until: now, withDueCommands: true, judgingEveryone: sentNow, bound: bound)
            _ = try runPasses(prototype, until: now, withDueCommands: true, plan: plan) { engine, _ in
                let out = engine.release(dueBy: now, inFlight: inFlight)
                let handed = out.filter { $0.isPending && $0.due <= now }
                let held = out.filter { !$0.isPending }
                try hand(handed.map { ($0, engine.customers[$0.customer]?.state) })
                // Each hand-off, sent or held back, is an event: a replay of the log knows it too.
                for var command in (sentNow ? handed : []) + held {
                    events.append(EncodedEvent(HandOff.event(for: command, at: now, source: source)))
                    if command.isPending { command.status = .dispatched }
                    engine.settle(command)
                }
                released += handed
                suppressed += held
                try save(&engine)
            }
            // Commands that quiet hours move stay as they are: the next release moves them again.
            _ = try log.appendInTransaction(events, recorded: now)
            return (released, suppressed, plan.releasedUpTo)
        }
    }
}

/// Where a paged release stopped in the due commands (see `ReactorStore.releaseForDelivery`): the
/// due time and row of the last command it passed.
public struct ReleaseCursor: Sendable, Equatable {
    public var due: Int64
    public var row: Int64
}

extension ReactorStore {
    /// Releases due commands to delivery (webhooks): the contact rules judge each again, as
    /// `dispatch` does; those that pass are handed to `queue` with the customer's state, inside this
    /// transaction; those that fail are recorded as suppressed (an `action.suppressed` event and the
    /// outbox). Handed commands stay pending: their delivery records the outcome
    /// (`recordDelivery`).
    ///
    /// - Parameter inFlight: commands queued earlier and not yet answered: not released again,
    ///   and counted as sent by the caps.
    ///
    /// - Parameter page: when given, the release takes at most `page.customers` customers with a
    ///   command due, in the order of those commands from just after `page.after` (the `upTo` of
    ///   the release before; nil to begin), and leaves customers whose next tick is due to the live
    ///   engine; `upTo` is where it stopped, nil once it has been through every due command. The
    ///   service pages so that one release is one short transaction: its first release of an
    ///   imported history suppressed 812,636 stale commands in one, which held the intake back for
    ///   50 s at 50,000 customers (tools/results/serve-load.md).
    public func releaseForDelivery(now: Timestamp, engine prototype: ReactorEngine, inFlight: Set<String>,
                                   page: (customers: Int, after: ReleaseCursor?)? = nil,
                                   queue: ([(command: Command, state: CustomerState?)]) throws -> Void)
        throws -> (released: [Command], suppressed: [Command], upTo: ReleaseCursor?) {
        try release(now: now, engine: prototype, inFlight: inFlight, source: "aftersale delivery", sentNow: false, bound: page, hand: queue)
    }

    /// Records how a delivery ended, inside the caller's transaction: `action.dispatched` when it
    /// was accepted, `action.suppressed` when it failed for good, with `details` (destination,
    /// attempt, status code, last response) in the event's data; a pending command in the outbox
    /// takes the same status. The event's id derives from the command's, so recording twice is one
    /// event. Returns false when the outbox has no such command.
    @discardableResult
    ///
    /// - Parameter redelivered: the delivery was sent again by hand after it had failed: when it is
    ///   accepted, the suppressed command becomes dispatched (the event says `redelivered`).
    public func recordDelivery(of id: String, delivered: Bool, reason: String?, details: JSONObject, at now: Timestamp,
                               redelivered: Bool = false) throws -> Bool {
        let row = try database.cached("SELECT \(ReactorStore.commandColumns) FROM outbox WHERE id = ?1")
        row.bind(id, at: 1)
        guard try row.step() else {
            row.reset()
            return false
        }
        var command = try ReactorStore.decodeCommand(row)
        row.reset()
        let wasPending = command.isPending || (delivered && redelivered && command.status.name == "suppressed")
        // The event says what happened to the delivery, whatever became of the command meanwhile.
        command.status = delivered ? .pending : .suppressed(reason: reason ?? "delivery failed")
        var event = HandOff.event(for: command, at: now, source: "aftersale delivery")
        for member in details.members { event.data[member.key] = member.value }
        if redelivered { event.data["redelivered"] = .bool(true) }
        _ = try log.appendInTransaction([EncodedEvent(event)], recorded: now)
        if wasPending {
            let (status, statusReason, _) = ReactorStore.statusColumns(delivered ? .dispatched : command.status)
            try database.cached("UPDATE outbox SET status = ?2, status_reason = ?3 WHERE id = ?1")
                .run([.text(id), .text(status), statusReason.map(SQLValue.text) ?? .null])
        }
        return true
    }
}

@available(*, unavailable)
extension ReactorStore: Sendable {}

/// Texts made on several threads, each writing its own slots (`ReactorStore.payloadTexts`).
private final class UnsafeTexts: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<String>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: "")
    }

    func put(_ text: String, at index: Int) { slots[index] = text }

    /// The texts, once every thread is done.
    func take() -> [String] { Array(slots) }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }
}

extension Command {
    /// The payload as the outbox stores it: compact JSON text, members in the order the play gave them.
    /// The payload's text as it was stored, when it is still that one: a command loaded and written
    /// again (a status changed) keeps its text, which parsing and writing it out again would only remake.
    var storedPayload: String { storedPayloadText ?? JSONValue.object(payload).compactText }
}

/// The co-purchase counts as last stored, and the token they were stored under
/// (`reactor_meta.co_purchases_token`): a store that finds the same token stored uses them instead of
/// reading every pair. Shared by the stores of one process, one at a time or on several threads.
public final class CoPurchaseMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var held: (token: String, table: CoPurchaseTable)?
    private var heldUsed = 0
    /// Loads that used the counts held here instead of reading the rows.
    var hits: Int { lock.withLock { heldUsed } }

    public init() {}

    func table(ifToken token: String) -> CoPurchaseTable? {
        lock.withLock {
            guard let held, held.token == token else { return nil }
            heldUsed += 1
            return held.table
        }
    }

    func hold(_ table: CoPurchaseTable, token: String) {
        lock.withLock { held = (token, table) }
    }
}
