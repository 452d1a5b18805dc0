public import AftersaleCore
import AftersaleOutbox
import AftersaleProjections
public import AftersaleReactor
public import AftersaleSQLite
public import AftersaleStore
import Foundation
public import Logging

/// How far the read models and the reactor are behind the log.
public struct EngineStatus: Sendable, Equatable {
    /// The log's last position when last looked at.
    public var head: Int64 = 0
    /// The customers projection's and the reactor's last applied positions.
    public var projection: Int64 = 0
    public var reactor: Int64 = 0
    /// The clock time the reactor was last brought up to.
    public var reactorClock: Timestamp?
    /// Runs done, and the last failure if the last run failed.
    public var runs = 0
    public var lastError: String?
    /// The last run's steps, and the customers they loaded from storage (a customer is loaded by
    /// each step that decides for them).
    public var lastRunSteps = 0
    public var lastRunCustomersLoaded = 0
    /// Every customer is being judged again (a model fitted, new settings), a step at a time.
    public var judgingEveryone = false

    public var projectionLag: Int64 { max(0, head - projection) }
    public var reactorLag: Int64 { max(0, head - reactor) }
    /// Caught up: every event in the log when last looked at is folded and reacted to.
    public var isCaughtUp: Bool { isCaughtUp(through: head) }

    /// Caught up through `position` (the intake's last append, which a run may not have seen yet).
    public func isCaughtUp(through position: Int64) -> Bool {
        runs > 0 && lastError == nil && projection >= max(head, position) && reactor >= max(head, position)
    }
}

/// The live engine: after each commit, the customers projection and the reactor catch up; between
/// commits, the clock service brings the reactor's clock up to now so time-based plays fire as
/// days pass.
///
/// It runs what `aftersale actions` runs (`ReactorStore.run(until:)` from the stored checkpoint), so
/// its decisions and command ids are those of a batch run over the same log. Commits that arrive
/// while it runs are taken together by the next run: it falls behind under load and catches up
/// after, instead of queueing a run per commit.
public final class LiveEngine: @unchecked Sendable {
    private let path: String
    private let clock: any ServerClock
    private let configuration: ReactorConfiguration
    private let threads: Int?
    private let interval: Double
    private let worker: ServiceThread
    /// The pause after each run before the next (see `loop`).
    public var gapSeconds = 0.0
    /// At most this many customers are decided in one step of a run, and written in one
    /// transaction (see `ReactorStore.runBesideWriters`).
    public var customersPerStep = 2_000
    /// While the intake is quiet (no commit in the last second), a step takes up to this many
    /// customers and decides on every core the engine may use (`threads`, else one per core): a
    /// backlog then goes through in the fewest steps, each of which loads and writes back its
    /// customers' states and commands. 0: the same as under load.
    public var customersPerQuietStep = 5_000
    /// The connection's page cache, MiB (see `ServerSettings.cacheMebibytesPerConnection`).
    public var cacheMebibytes = 64
    /// The co-purchase counts from one run to the next: a step reads and writes only the pairs its
    /// orders changed, not every pair of the catalogue.
    private let coPurchaseMemory = CoPurchaseMemory()
    /// Shared with the service's other writers (see `WriterTurns`).
    public var writerTurns: WriterTurns?
    /// The facts the intake holds, which the projection reads there (see `HeldFactsBoard`).
    public var heldFactsBoard: HeldFactsBoard?
    /// Seconds since the intake last committed (see `waitForQuietIntake`); nil: never waits.
    public var sinceIntakeCommitted: (@Sendable () -> Double)?
    /// Cores' worth of CPU the engine could have had since it last asked (the machine's idle time
    /// and its own; see `SpareCPUMeter`), nil when unknown. Called on the engine's thread.
    public var spareCores: (() -> Double?)?
    /// Requests a commit of the intake took, on average, since the engine last asked (see
    /// `IntakeGroupMeter`); nil when unknown.
    public var intakeGroupSize: (() -> Double?)?
    /// Requests the intake gathers into a commit on purpose (`Intake.requestsGatheredPerCommit`:
    /// under a commit delay, up to its end; 0 without one): its groups are that much larger without
    /// any queue, so a step waits only for groups of `intakeGroupToWait` beyond them. Read as a
    /// queue, the requests a delay gathered under a steady stream held the engine back until it fell
    /// far behind; ignored altogether, the engine's steps took their turns from a load sent back to
    /// back, whose groups grow well past them (`tools/results/serve-load.md`, thirty-first session).
    public var intakeGathers = 0.0
    /// A step waits for a committing intake only while the machine has no room for it: less than
    /// this much CPU spare, or the intake's commits taking `intakeGroupToWait` requests or more (its
    /// requests queue for the writer, whose turns the engine's writes would take). A shop's steady
    /// stream commits every few milliseconds and never leaves `quietSeconds` of quiet, yet leaves a
    /// core idle and commits one request at a time: there, steps that waited for quiet took one a
    /// second (one in five once behind), about 450 events decided a second whatever came in, and
    /// the engine fell behind 2,000 events a second for good; without the wait it kept up with 4,000,
    /// while at full speed the intake took a fifth fewer events when the engine did not wait
    /// (`tools/results/serve-load.md`, twenty-eighth session).
    public var spareCoresToRun = 0.5
    /// See `spareCoresToRun`: at 2,000 and 4,000 events a second a commit took 1.1-1.3 and 1.9-2.7
    /// requests, at full speed 11-19. At 4 the engine, whose writes grow with the customers'
    /// histories, began to wait at 4,000 events a second after a minute or so and fell behind; at 8
    /// it kept up for two and a half minutes, and full speed took as many events.
    public var intakeGroupToWait = 8.0
    /// The last answers of `spareCores` and `intakeGroupSize`, for the log.
    private var lastSpareCores: Double?
    private var lastGroupSize: Double?
    /// The intake is busy while it committed less than this long ago. A burst of 500-event requests
    /// on four connections left gaps of more than 20 ms between its commits often enough that an
    /// engine waiting for 20 ms of quiet stepped in within the burst (`tools/results/serve-load.md`,
    /// nineteenth session); at a shop's usual pace commits are seconds apart.
    public var quietSeconds = 0.2
    /// A step waits at most this long for a busy intake to be quiet.
    public var deferAtMostSeconds = 1.0
    /// Once `stepsBehindBeforeLongerWait` steps in a row found more customers than they could take
    /// (the intake appends faster than the engine decides, or a backlog met a busy intake), a step
    /// waits up to this long instead. Under a load that fills the machine the engine cannot catch up
    /// while it lasts, whatever it does: a step a second decided a small part of what the intake
    /// took and fell behind all the same, while its loads and writes slowed the intake's commits
    /// (`tools/results/serve-load.md`, twenty-fifth session). The backlog goes through in the quiet
    /// steps after, on every core. A step that takes every event there is (a shop's pace) brings
    /// back the shorter wait. Never shorter than `deferAtMostSeconds`.
    public var deferBehindSeconds = 5.0
    /// How many steps in a row must leave events for the next before a step waits `deferBehindSeconds`.
    public var stepsBehindBeforeLongerWait = 3
    /// Steps in a row that left events for the next (see `deferBehindSeconds`).
    private var stepsLeftBehind = 0
    /// Told the bound of each wait for a busy intake (the service counts them, `aftersale_engine_waits_total`).
    var onWait: ((Double) -> Void)?
    /// A projection this many events behind (and half the log or more) is rebuilt, when the intake is quiet.
    public var projectionRebuildThreshold: Int64 = 10_000
    /// Events folded into the customers read model at a time (written in transactions of
    /// `CustomerProjection.rowsPerTransaction` customers).
    static let projectionBatch = 20_000
    /// While the intake is busy and the customers read model more than `projectionFoldedAtOnce`
    /// events behind, it is folded only once it is this many events behind or
    /// `projectionSecondsUnderLoad` have passed, this many events at a time. Each batch
    /// writes a page of the table for nearly every customer it touches, and under a stream of new
    /// and returning customers those are all over the table: in batches of a second's events the
    /// read model's pages were most of what went to the disk and the intake's commits waited for
    /// them (`tools/results/serve-load.md`, twenty-fourth session). A larger batch shares more
    /// pages. A customer's profile still reads current: it folds what is left first.
    public var projectionBatchUnderLoad = 100_000
    public var projectionSecondsUnderLoad = 10.0
    /// A batch of the read model's fold, busy or not, ends once the customers' states it holds reach
    /// this many bytes (as stored, plus the facts folded into them; see `CustomerProjection.catchUp`).
    /// A batch holds each customer it touches, decoded, until it writes them, and a customer's state
    /// grows with their history: in a soak, batches of `projectionBatchUnderLoad` events held more
    /// the longer it ran, and the server's resident size rose with them
    /// (`tools/results/serve-load.md`, twenty-seventh session). The bound keeps it flat; the cost is
    /// more, smaller batches once states are large, each writing the rows it touched.
    public var projectionStateBytesPerBatch = 16 << 20
    /// A backlog this small is folded at once, busy or not: at a shop's pace the read model stays
    /// current after each commit.
    public var projectionFoldedAtOnce = 2_000
    private var projectedAt: UInt64?
    /// Seconds a run spent folding the customers read model (for the log).
    private var projectionSeconds = 0.0
    /// The last run left the read model behind for a larger batch: the engine runs again soon, so
    /// that once the intake is quiet the read model is folded without waiting for a commit or the
    /// clock (`/readyz` says ready only then).
    private var projectionDeferred = false
    private let logger: Logger
    private let lock = NSLock()
    private var current = EngineStatus()
    /// Called after each run with its status and how long it took (metrics).
    public var onRun: (@Sendable (EngineStatus, Double) -> Void)?

    public init(path: String, clock: any ServerClock, configuration: ReactorConfiguration, threads: Int?,
                clockIntervalSeconds: Double, niceness: Int32 = 0, logger: Logger) {
        self.path = path
        self.clock = clock
        self.configuration = configuration
        self.threads = threads
        self.interval = clockIntervalSeconds
        self.logger = logger
        self.worker = ServiceThread(name: "aftersale-engine", intervalSeconds: clockIntervalSeconds, niceness: niceness)
    }

    public var status: EngineStatus { lock.withLock { current } }

    /// Starts the engine's thread; its first run catches up with what the log holds.
    public func start() { worker.start { [self] in loop() } }

    /// Events were committed: run soon.
    public func wake() { worker.wake() }

    /// Finishes the run under way, then stops.
    public func stop() { worker.stop() }

    /// Runs now on the caller's thread, whatever the schedule (tests, and `readyz` after a start).
    func runOnce(_ log: EventLog) {
        let started = DispatchTime.now().uptimeNanoseconds
        projectionSeconds = 0
        var status = lock.withLock { current }
        do {
            let projection = try CustomerProjection(log: log)
            waitForQuietIntake()
            try catchUp(projection, log, busy: !intakeIsQuiet)
            let store = try ReactorStore(log: log, parallelism: threads)
            store.coPurchaseMemory = coPurchaseMemory
            let now = clock.now()
            let engine = ReactorEngine.withFittedModels(configuration: configuration)
            // Decides without the write lock, in steps of a bounded number of customers, so the
            // intake is never held back for long; if another run (a CLI `actions`) moved the
            // checkpoint meanwhile, the step decides again from there. A stop ends the run between
            // steps: the next start goes on from the checkpoint.
            var run = ReactorStore.RunSummary()
            var steps = 0
            var judgingSteps = 0
            // A run goes as far as the log's head when it began: under a steady stream of commits
            // its steps would otherwise never reach the end, and the projection (caught up when a
            // run begins), the clock and the status would wait as long.
            let target = try log.head()
            while true {
                // Under load a step decides on this thread alone unless told otherwise: its customers are
                // few, and the cores are the intake's and the requests' first (the thread runs at a lower
                // priority). While the intake is quiet, the cores are the engine's.
                let quiet = customersPerQuietStep > 0 && intakeIsQuiet
                guard let step = try store.runBesideWriters(
                    until: now, engine: engine, maxCustomers: quiet ? max(customersPerStep, customersPerQuietStep) : customersPerStep,
                    stepParallelism: quiet ? threads ?? ProcessInfo.processInfo.activeProcessorCount : threads ?? 1) else { continue }
                steps += 1
                stepsLeftBehind = step.tookEveryEvent ? 0 : stepsLeftBehind + 1
                if step.judgedAgain { judgingSteps += 1 }
                run.add(step.run)
                // Past the target, only customers with a tick due keep the run going, while their steps
                // move their clocks: the events come after the target, those ticks do not, and a run that
                // stopped for them left the rest of the day's ticks to the next run (one step's worth a
                // run, every clock interval). So do the customers of a walk judging everyone again.
                if step.complete || worker.isStopping
                    || (step.run.checkpoint >= target && !step.judgedAgain && (!step.tookEveryEvent || step.run.written == 0)) { break }
                waitForQuietIntake()
                // The customers projection too between steps (it folds millions of events a second), so
                // a long run keeps the reads current; and the lags as they shrink, for /readyz and the metrics.
                try catchUp(projection, log, busy: !intakeIsQuiet)
                let projected = try projection.checkpoint()
                let judging = try store.isJudgingEveryone()
                lock.withLock {
                    current.reactor = max(current.reactor, step.run.checkpoint)
                    current.projection = max(current.projection, projected)
                    current.judgingEveryone = judging
                }
            }
            status.head = try log.head()
            status.projection = try projection.checkpoint()
            status.reactor = try store.checkpoint()
            status.reactorClock = now
            status.judgingEveryone = try store.isJudgingEveryone()
            status.lastError = nil
            status.lastRunSteps = steps
            status.lastRunCustomersLoaded = run.customersLoaded
            if run.events > 0 || run.scheduled > 0 || judgingSteps > 0 {
                logger.info("engine caught up", metadata: ["events": "\(run.events)", "customers": "\(run.customersLoaded)", "steps": "\(steps)",
                                                           "scheduled": "\(run.scheduled)", "judging_everyone_steps": "\(judgingSteps)",
                                                           "write_lock_ms": "\(Int(run.saveSeconds * 1000))",
                                                           "projection_ms": "\(Int(projectionSeconds * 1000))",
                                                           "started_uptime_ms": "\(started / 1_000_000)",
                                                           "run_ms": "\((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000)",
                                                           "spare_cores": lastSpareCores.map { "\(($0 * 100).rounded() / 100)" } ?? "unknown",
                                                           "group": lastGroupSize.map { "\(($0 * 10).rounded() / 10)" } ?? "unknown"])
            }
        } catch {
            // Storage errors only (a full disk, a lock held too long): the next run tries again.
            status.lastError = "\(error)"
            logger.error("engine run failed", metadata: ["error": "\(error)"])
        }
        status.runs += 1
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        lock.withLock { current = status }
        onRun?(status, seconds)
    }

    /// Folds the customers read model up to the log's head: at once while the intake is quiet (by
    /// a rebuild when it is far behind), in larger batches while it is busy (see
    /// `projectionBatchUnderLoad`), never by a rebuild then: a rebuild takes every core and its own
    /// transactions back to back, and the requests of a burst waited for all of it.
    private func catchUp(_ projection: CustomerProjection, _ log: EventLog, busy: Bool) throws {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { projectionSeconds += Double(DispatchTime.now().uptimeNanoseconds - now) / 1e9 }
        projectionDeferred = false
        if busy {
            let behind = try log.head() - projection.checkpoint()
            if let projectedAt, behind > Int64(projectionFoldedAtOnce) {
                let seconds = Double(now - min(now, projectedAt)) / 1e9
                guard behind >= Int64(projectionBatchUnderLoad) || seconds >= projectionSecondsUnderLoad else {
                    projectionDeferred = true
                    return
                }
            }
            try projection.catchUp(batchSize: max(1, projectionBatchUnderLoad), stateBytesPerBatch: projectionStateBytesPerBatch,
                                   rebuildThreshold: .max)
        } else {
            try projection.catchUp(batchSize: LiveEngine.projectionBatch, stateBytesPerBatch: projectionStateBytesPerBatch,
                                   rebuildThreshold: projectionRebuildThreshold)
        }
        projectedAt = now
    }

    /// No commit by the intake in the last second (always, without an intake to ask).
    private var intakeIsQuiet: Bool { (sinceIntakeCommitted?() ?? .infinity) >= 1 }

    /// Waits while the intake commits back to back on a full machine, up to `deferAtMostSeconds`.
    /// A step under a stream of commits that fills the machine took CPU and turns at the write lock
    /// from the intake, whose requests then waited, and did little: the stream outran it. Deferred,
    /// the engine falls behind a burst and catches up after it. While the machine has room for it
    /// (see `spareCoresToRun`), or the intake is quiet, it runs at once, and it stops waiting as soon
    /// as either comes. The bound keeps it going under a stream that never pauses.
    private func waitForQuietIntake() {
        guard let since = sinceIntakeCommitted, deferAtMostSeconds > 0 else { return }
        func machineHasRoom() -> Bool {
            lastSpareCores = spareCores?()
            lastGroupSize = intakeGroupSize?()
            guard let spare = lastSpareCores, spare >= spareCoresToRun else { return false }
            return (lastGroupSize ?? 1) < intakeGroupToWait + intakeGathers
        }
        if machineHasRoom() { return }
        let bound = stepsLeftBehind >= stepsBehindBeforeLongerWait ? max(deferAtMostSeconds, deferBehindSeconds) : deferAtMostSeconds
        let started = DispatchTime.now().uptimeNanoseconds
        var told = false
        while !worker.isStopping {
            let quiet = since()
            if quiet >= quietSeconds { return }
            if !told {
                onWait?(bound)
                told = true
            }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            if waited >= bound { return }
            worker.pause(min(quietSeconds - quiet, bound - waited))
            if machineHasRoom() { return }
        }
    }

    private func loop() {
        let log: EventLog
        do {
            log = try EventLog.openForService(path: path, cacheMebibytes: cacheMebibytes, writerTurns: writerTurns)
            log.heldFactsBoard = heldFactsBoard
        } catch {
            lock.withLock { current.lastError = "cannot open the log: \(error)" }
            logger.error("engine cannot open the log", metadata: ["error": "\(error)"])
            return
        }
        while worker.nextRun() {
            runOnce(log)
            if projectionDeferred { worker.wake() }
            // Under a stream of commits, let them gather for a moment: each run has a cost of its own
            // (reading the checkpoint and the customers touched) and holds the write lock while it
            // saves, which the intake waits for. A pause after a run makes fewer, larger runs.
            if gapSeconds > 0 { worker.pause(gapSeconds) }
            // After a failure, wait before trying again rather than spinning.
            if lock.withLock({ current.lastError != nil }) { worker.pause(min(interval, 5)) }
        }
    }
}
