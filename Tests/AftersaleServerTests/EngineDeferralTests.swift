import AftersaleCore
import AftersaleIngest
import AftersaleOutbox
import AftersaleReactor
@testable import AftersaleServer
import AftersaleStore
import Foundation
import Logging
import Synchronization
import Testing

/// An empty log with its keys in a fresh folder, into which a shop's lines are ingested part by part.
final class PartsLog {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-parts-\(UUID().uuidString)")
    var path: String { folder.appendingPathComponent("shop.db").path }
    let log: EventLog
    private var parts = 0

    init() throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        log = try EventLog(path: folder.appendingPathComponent("shop.db").path)
        try log.attachVault(environment: [:])
    }

    func ingest(_ lines: ArraySlice<String>) throws {
        let file = folder.appendingPathComponent("part-\(parts).ndjson").path
        parts += 1
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        _ = try Ingester(log: log, options: IngestOptions(now: try Timestamp.parse("2024-12-31T00:00:00Z"))).ingest([file])
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// The live engine and a busy intake: a burst is taken first, the engine catches up after it.
@Suite("the live engine waits out a burst")
struct EngineDeferralTests {
    /// A log with a simulated shop's events ingested, in a fresh folder.
    static func log(customers: Int, days: Int) throws -> (folder: URL, path: String, events: Int) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-defer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("shop.db").path
        let file = folder.appendingPathComponent("shop.ndjson").path
        let lines = try LiveEngineTests.shop(customers: customers, days: days, seed: 11)
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let log = try EventLog(path: path)
        try log.attachVault(environment: [:])
        _ = try Ingester(log: log, options: IngestOptions(now: try Timestamp.parse("2024-12-31T00:00:00Z"))).ingest([file])
        return (folder, path, lines.count)
    }

    /// The intake as the engine sees it: busy (it committed just now) or quiet for a long while.
    final class FakeIntake: Sendable {
        private let busyFlag = Atomic<Bool>(true)
        private let asks = Atomic<Int>(0)
        /// Seconds since the last commit while busy: 0 (committing back to back), or a gap within a burst.
        let busySince: Double
        init(busySince: Double = 0) { self.busySince = busySince }
        var busy: Bool { busyFlag.load(ordering: .relaxed) }
        func setBusy(_ value: Bool) { busyFlag.store(value, ordering: .relaxed) }
        var asked: Int { asks.load(ordering: .relaxed) }
        var since: @Sendable () -> Double {
            { [self] in
                asks.add(1, ordering: .relaxed)
                return busy ? busySince : 60
            }
        }
    }

    static func engine(_ path: String, intake: FakeIntake, deferAtMost: Double, threads: Int? = 1,
                       now: Timestamp = try! Timestamp.parse("2024-12-31T00:00:00Z")) -> LiveEngine {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let engine = LiveEngine(path: path, clock: ManualClock(now),
                                configuration: ReactorConfiguration(), threads: threads, clockIntervalSeconds: 60, logger: logger)
        engine.sinceIntakeCommitted = intake.since
        engine.deferAtMostSeconds = deferAtMost
        return engine
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test("while the intake commits back to back, the engine decides nothing; once it pauses, the engine catches up")
    func waitsForAPause() async throws {
        let (folder, path, events) = try EngineDeferralTests.log(customers: 40, days: 60)
        defer { try? FileManager.default.removeItem(at: folder) }
        let intake = FakeIntake()
        // A bound far longer than the test takes: in a loaded suite its check below once came
        // about 31 s after the start, when a 30 s bound had already let the engine run.
        let engine = EngineDeferralTests.engine(path, intake: intake, deferAtMost: 600)
        engine.start()
        defer { engine.stop() }
        // It asks, again and again, and meanwhile neither the projection nor the reactor moves.
        #expect(try await EngineDeferralTests.waitUntil(seconds: 10) { intake.asked >= 5 })
        #expect(engine.status.runs == 0)
        #expect(engine.status.reactor == 0 && engine.status.projection == 0)
        intake.setBusy(false)
        #expect(try await EngineDeferralTests.waitUntil(seconds: 30) { engine.status.runs >= 1 })
        let status = engine.status
        #expect(status.lastError == nil)
        #expect(status.projection == Int64(events) && status.reactor == Int64(events))
    }

    @Test("a gap of 100 ms between a burst's commits is not a pause: the engine waits for a longer one")
    func gapsWithinABurst() async throws {
        let (folder, path, events) = try EngineDeferralTests.log(customers: 40, days: 60)
        defer { try? FileManager.default.removeItem(at: folder) }
        let intake = FakeIntake(busySince: 0.1)
        let engine = EngineDeferralTests.engine(path, intake: intake, deferAtMost: 600)
        engine.start()
        defer { engine.stop() }
        #expect(try await EngineDeferralTests.waitUntil(seconds: 10) { intake.asked >= 5 })
        #expect(engine.status.runs == 0 && engine.status.reactor == 0)
        intake.setBusy(false)
        #expect(try await EngineDeferralTests.waitUntil(seconds: 30) { engine.status.runs >= 1 })
        #expect(engine.status.reactor == Int64(events))
    }

    @Test("an intake that never pauses holds the engine back no longer than the bound")
    func boundedWait() async throws {
        let (folder, path, events) = try EngineDeferralTests.log(customers: 40, days: 60)
        defer { try? FileManager.default.removeItem(at: folder) }
        let intake = FakeIntake()
        let engine = EngineDeferralTests.engine(path, intake: intake, deferAtMost: 0.2)
        engine.start()
        defer { engine.stop() }
        #expect(try await EngineDeferralTests.waitUntil(seconds: 30) { engine.status.runs >= 1 })
        #expect(engine.status.reactor == Int64(events))
        #expect(intake.busy)
    }

    @Test("while its steps keep leaving events for the next under a busy intake, the engine waits longer between them; a step that takes every event brings the short wait back")
    func longerWaitWhileLeftBehind() throws {
        let lines = try LiveEngineTests.shop(customers: 40, days: 60, seed: 11)
        let shop = try PartsLog()
        defer { shop.remove() }
        let engine = EngineDeferralTests.engine(shop.path, intake: FakeIntake(), deferAtMost: 0.01)
        engine.deferBehindSeconds = 0.05
        engine.customersPerStep = 5
        final class Waits { var bounds: [Double] = [] }
        let waits = Waits()
        engine.onWait = { waits.bounds.append($0) }
        // A first run decides the whole log at once: it starts the reactor on a few events.
        try shop.ingest(lines[..<10])
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == 10)

        // The rest waits for the engine, more customers than five steps take.
        try shop.ingest(lines[10...])
        waits.bounds = []
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(lines.count) && engine.status.lastError == nil)
        // Before the run's first step and after each of the first two, the short wait; from the
        // third step in a row that left customers for the next on, the longer one; once the steps
        // take every event (the ticks due after them), the short one again.
        #expect(Array(waits.bounds.prefix(3)) == [0.01, 0.01, 0.01], "\(waits.bounds)")
        let behind = waits.bounds.dropFirst(3).prefix { $0 == 0.05 }
        #expect(behind.count >= 2, "\(waits.bounds)")
        #expect(waits.bounds.dropFirst(3 + behind.count).allSatisfy { $0 == 0.01 }, "\(waits.bounds)")

        // The last step took every event: the next run, one event for one customer, waits briefly.
        waits.bounds = []
        try shop.ingest([#"{"id":"late-1","type":"customer.registered","customer":"c-late","at":"2024-12-30T00:00:00Z","data":{"email":"late@example.com","name":"Late Comer","timezone":"Europe/Berlin"}}"#])
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(lines.count + 1))
        #expect(waits.bounds == [0.01])
    }

    @Test("a committing intake on a machine with room (a core spare, one request a commit) does not hold the engine back; without room it does, until there is")
    func spareCoreMeansNoWait() throws {
        let lines = try LiveEngineTests.shop(customers: 40, days: 60, seed: 11)
        let shop = try PartsLog()
        defer { shop.remove() }
        // The intake commits back to back throughout, and a wait would be long enough to see.
        let engine = EngineDeferralTests.engine(shop.path, intake: FakeIntake(), deferAtMost: 0.5)
        engine.customersPerStep = 5
        final class Readings { var spare: [Double?] = []; var asked = 0; var waits = 0 }
        let readings = Readings()
        engine.spareCores = {
            defer { readings.asked += 1 }
            return readings.spare.isEmpty ? nil : readings.spare[min(readings.asked, readings.spare.count - 1)]
        }
        engine.onWait = { _ in readings.waits += 1 }
        final class Groups { var size: Double? = 1.2 }
        let groups = Groups()
        engine.intakeGroupSize = { groups.size }

        // A first run decides the whole log at once: it starts the reactor on a few events.
        try shop.ingest(lines[..<10])
        readings.spare = [1.5]
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == 10)

        // A core and a half spare at every ask: a run of many steps, not one wait.
        try shop.ingest(lines[10..<(lines.count / 2)])
        readings.asked = 0
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(lines.count / 2) && engine.status.lastError == nil)
        #expect(engine.status.lastRunSteps > 3)
        #expect(readings.waits == 0 && readings.asked > 3)

        // A fifth of a core spare at first, then a core: the run waits, then goes on without the
        // wait's bound (0.5 s a step for this run's many steps).
        try shop.ingest(lines[(lines.count / 2)...])
        readings.spare = [0.2, 0.2, 1.0]
        readings.asked = 0
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(lines.count) && engine.status.lastError == nil)
        #expect(readings.waits == 1)
        #expect(engine.status.lastRunSteps > 3)

        // Cores spare, but the intake's requests queue for its writer (ten a commit): it waits.
        readings.spare = [1.5]
        readings.asked = 0
        readings.waits = 0
        groups.size = 10
        try shop.ingest([#"{"id":"late-0","type":"customer.registered","customer":"c-late0","at":"2024-12-30T00:00:00Z","data":{"email":"late0@example.com","name":"Late Comer","timezone":"Europe/Berlin"}}"#])
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(lines.count + 1))
        #expect(readings.waits == 1)
        groups.size = 1.2

        // Unknown (no reading yet, or not Linux): as before, a busy intake is waited for.
        readings.spare = []
        readings.waits = 0
        try shop.ingest([#"{"id":"late-1","type":"customer.registered","customer":"c-late","at":"2024-12-30T00:00:00Z","data":{"email":"late@example.com","name":"Late Comer","timezone":"Europe/Berlin"}}"#])
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(lines.count + 2))
        #expect(readings.waits == 1)
    }

    @Test("under a commit delay the requests it gathers are not a queue: groups of ten with eight gathered leave the engine going, groups beyond eight more hold it back")
    func gatheredGroupsAreNoQueue() throws {
        let lines = try LiveEngineTests.shop(customers: 20, days: 40, seed: 5)
        let shop = try PartsLog()
        defer { shop.remove() }
        let engine = EngineDeferralTests.engine(shop.path, intake: FakeIntake(), deferAtMost: 0.2)
        engine.customersPerStep = 5
        final class Readings { var waits = 0; var group: Double? = 10 }
        let readings = Readings()
        engine.spareCores = { 1.5 }
        engine.intakeGroupSize = { readings.group }
        engine.onWait = { _ in readings.waits += 1 }
        // As `serve` sets it with a commit delay (`Intake.commitDelayEndsAtRequests`).
        engine.intakeGathers = 8

        let half = lines.count / 2
        try shop.ingest(lines[..<half])
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(half) && engine.status.lastError == nil)

        // Ten requests a commit, eight of them gathered on purpose: no wait, several steps.
        try shop.ingest(lines[half...])
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(lines.count) && engine.status.lastError == nil)
        #expect(engine.status.lastRunSteps > 1)
        #expect(readings.waits == 0)

        // Twenty a commit: requests queue beyond what the delay gathers, and the engine waits.
        readings.group = 20
        try shop.ingest([#"{"id":"late-0","type":"customer.registered","customer":"c-late0","at":"2024-12-30T00:00:00Z","data":{"email":"late0@example.com","name":"Late Comer","timezone":"Europe/Berlin"}}"#])
        engine.runOnce(shop.log)
        #expect(engine.status.reactor == Int64(lines.count + 1))
        #expect(readings.waits == 1)
    }

    @Test("the intake's group size is the requests a commit took over the last window, one in a window with no commit")
    func intakeGroupMeter() {
        final class Totals { var commits: UInt64 = 10; var requests: UInt64 = 30; var now: UInt64 = 0 }
        let t = Totals()
        let meter = IntakeGroupMeter(windowNanoseconds: 100_000_000, uptime: { t.now }) { (t.commits, t.requests) }
        #expect(meter.read() == nil)
        t.now += 500_000_000
        t.commits += 4
        t.requests += 50
        #expect(meter.read() == 12.5)
        // Within the window: the same answer; the commits count in the next.
        t.now += 10_000_000
        t.commits += 1
        t.requests += 1
        #expect(meter.read() == 12.5)
        t.now += 90_000_000
        t.commits += 1
        t.requests += 1
        #expect(meter.read() == 1)
        t.now += 1_000_000_000
        #expect(meter.read() == 1)
    }

    @Test("spare CPU is the machine's idle time and the engine's own, in cores over the time since the last reading a window ago")
    func spareCPUMeter() throws {
        final class Readings { var idle: Double? = 100; var own = 5.0; var now: UInt64 = 1_000_000_000 }
        let r = Readings()
        let meter = SpareCPUMeter(windowNanoseconds: 100_000_000, idleSeconds: { r.idle }, ownSeconds: { r.own }, uptime: { r.now })
        #expect(meter.read() == nil)
        // Two seconds: the machine idle 1.0 s (over its CPUs), the engine's thread busy 0.5 s.
        r.now += 2_000_000_000
        r.idle = 101
        r.own = 5.5
        #expect(meter.read() == 0.75)
        // Within a window of the last reading: the same answer, whatever the counters say; they
        // count in the next window's.
        r.now += 50_000_000
        r.idle = 101.2
        #expect(meter.read() == 0.75)
        r.now += 950_000_000
        #expect(abs(try #require(meter.read()) - 0.2) < 1e-9)
        // A full machine: no idle time, the engine idle too.
        r.now += 1_000_000_000
        #expect(meter.read() == 0)
        // Without the machine's idle time: unknown.
        r.idle = nil
        r.now += 1_000_000_000
        #expect(meter.read() == nil)
        #if os(Linux)
        let first = try #require(SpareCPUMeter.machineIdleSeconds())
        usleep(50_000)
        #expect(try #require(SpareCPUMeter.machineIdleSeconds()) >= first)
        #endif
    }

    @Test("new settings recorded by another run: the engine judges everyone again in steps, and says so while it does")
    func judgingEveryoneAgain() throws {
        let (folder, path, _) = try EngineDeferralTests.log(customers: 120, days: 200)
        defer { try? FileManager.default.removeItem(at: folder) }
        let now = try Timestamp.parse("2024-12-31T00:00:00Z")
        let quiet = FakeIntake()
        quiet.setBusy(false)
        func engine() -> LiveEngine {
            let engine = EngineDeferralTests.engine(path, intake: quiet, deferAtMost: 0, now: now)
            engine.customersPerStep = 10
            engine.customersPerQuietStep = 10
            return engine
        }
        let first = engine()
        first.runOnce(try EventLog(path: path))
        #expect(!first.status.judgingEveryone && first.status.lastError == nil)
        // Other settings recorded by a batch run (`aftersale actions --config` with its own file).
        let other = try ReactorConfiguration.load(json: #"{"win_back": {"p_alive_below": 0.9}}"#)
        try ReactorStore(log: EventLog(path: path)).run(until: now, engine: ReactorEngine(configuration: other))
        // A stopping engine ends its run after one step: the step that begins the walk.
        let stopped = engine()
        stopped.stop()
        stopped.runOnce(try EventLog(path: path))
        #expect(stopped.status.judgingEveryone)
        #expect(stopped.status.lastRunSteps == 1)
        let metrics = ServerMetrics()
        metrics.recordEngine(stopped.status, seconds: 0)
        #expect(String(decoding: metrics.text(), as: UTF8.self).contains("aftersale_reactor_judging_everyone 1"))
        // The next run walks every customer, ten a step.
        let next = engine()
        next.runOnce(try EventLog(path: path))
        #expect(!next.status.judgingEveryone)
        #expect(next.status.lastRunSteps >= 120 / 10)
        #expect(next.status.lastRunCustomersLoaded >= 120)
        metrics.recordEngine(next.status, seconds: 0)
        #expect(String(decoding: metrics.text(), as: UTF8.self).contains("aftersale_reactor_judging_everyone 0"))
    }

    @Test("while the intake is busy the read model is folded once far enough behind or after a while, and at once when it is quiet")
    func readModelInLargerBatchesWhileBusy() throws {
        let lines = try LiveEngineTests.shop(customers: 60, days: 120, seed: 11)
        let quarter = lines.count / 4
        let shop = try PartsLog()
        defer { shop.remove() }
        let (path, log) = (shop.path, shop.log)
        var ingested = 0
        func ingest(_ part: ArraySlice<String>) throws {
            try shop.ingest(part)
            ingested += part.count
        }
        let intake = FakeIntake()
        let engine = EngineDeferralTests.engine(path, intake: intake, deferAtMost: 0)
        engine.projectionBatchUnderLoad = lines.count
        engine.projectionSecondsUnderLoad = 3_600
        // Backlogs this small are folded at once by default (a shop's pace): here they stand for larger ones.
        engine.projectionFoldedAtOnce = 0
        // Never folded yet: at once, busy or not.
        try ingest(lines[..<quarter])
        engine.runOnce(log)
        #expect(engine.status.projection == Int64(ingested))
        // Busy: the reactor takes the new events, the read model waits for more of them.
        try ingest(lines[quarter..<(2 * quarter)])
        engine.runOnce(log)
        #expect(engine.status.reactor == Int64(ingested))
        #expect(engine.status.projection == Int64(quarter))
        intake.setBusy(false)
        engine.runOnce(log)
        #expect(engine.status.projection == Int64(ingested))
        // Busy again: folded once as far behind as the batch under load.
        intake.setBusy(true)
        try ingest(lines[(2 * quarter)..<(3 * quarter)])
        engine.projectionBatchUnderLoad = quarter
        engine.runOnce(log)
        #expect(engine.status.projection == Int64(ingested))
        // Or once that long has passed since the last fold.
        try ingest(lines[(3 * quarter)...])
        engine.projectionBatchUnderLoad = lines.count
        engine.projectionSecondsUnderLoad = 0
        engine.runOnce(log)
        #expect(engine.status.projection == Int64(lines.count))
        #expect(engine.status.reactor == Int64(lines.count))
    }

    @Test("a read model left behind during a burst is folded once the intake is quiet, with no commit or clock tick to wake the engine")
    func deferredReadModelFoldedAfterTheBurst() async throws {
        let lines = try LiveEngineTests.shop(customers: 60, days: 120, seed: 11)
        let half = lines.count / 2
        let shop = try PartsLog()
        defer { shop.remove() }
        let path = shop.path
        try shop.ingest(lines[..<half])
        let intake = FakeIntake()
        // Waits for a pause of the intake at most this long before each step, then steps in.
        let engine = EngineDeferralTests.engine(path, intake: intake, deferAtMost: 0.05)
        engine.projectionBatchUnderLoad = lines.count
        engine.projectionSecondsUnderLoad = 3_600
        engine.projectionFoldedAtOnce = 0
        engine.start()
        defer { engine.stop() }
        #expect(try await EngineDeferralTests.waitUntil(seconds: 20) { engine.status.projection == Int64(half) })
        // The burst's last commit: the reactor takes it, the read model waits for a larger batch.
        try shop.ingest(lines[half...])
        engine.wake()
        #expect(try await EngineDeferralTests.waitUntil(seconds: 20) { engine.status.reactor == Int64(lines.count) })
        #expect(engine.status.projection == Int64(half))
        // The intake goes quiet; nothing else happens (the clock's interval is a minute).
        intake.setBusy(false)
        #expect(try await EngineDeferralTests.waitUntil(seconds: 10) { engine.status.projection == Int64(lines.count) })
        #expect(engine.status.isCaughtUp)
    }

    @Test("at a shop's pace the read model is folded after each commit, busy or not")
    func smallBacklogsAtOnce() throws {
        let (folder, path, events) = try EngineDeferralTests.log(customers: 40, days: 60)
        defer { try? FileManager.default.removeItem(at: folder) }
        let engine = EngineDeferralTests.engine(path, intake: FakeIntake(), deferAtMost: 0)
        engine.projectionSecondsUnderLoad = 3_600
        engine.projectionFoldedAtOnce = events
        let log = try EventLog(path: path)
        try log.attachVault(environment: [:])
        engine.runOnce(log)
        #expect(engine.status.projection == Int64(events))
        // One more event, while the intake is busy.
        let file = folder.appendingPathComponent("late.ndjson").path
        try #"{"id":"late-1","type":"customer.registered","customer":"c-late","at":"2024-12-30T00:00:00Z","data":{"email":"late@example.com","name":"Late Comer","timezone":"Europe/Berlin"}}"#
            .appending("\n").write(toFile: file, atomically: true, encoding: .utf8)
        _ = try Ingester(log: log, options: IngestOptions(now: try Timestamp.parse("2024-12-31T00:00:00Z"))).ingest([file])
        engine.runOnce(log)
        #expect(engine.status.projection == Int64(events + 1))
    }

    @Test("a backlog met while the intake is busy is folded in bounded steps, not rebuilt with every core")
    func noRebuildWhileBusy() throws {
        let (folder, path, events) = try EngineDeferralTests.log(customers: 300, days: 200)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(events >= 2_000)  // past the rebuild's threshold here
        let busyIntake = FakeIntake()
        let busy = EngineDeferralTests.engine(path, intake: busyIntake, deferAtMost: 0)
        busy.projectionRebuildThreshold = 1_000
        busy.runOnce(try EventLog(path: path))
        #expect(busy.status.projection == Int64(events))
        // The rebuild takes its lock file; the steps never do.
        #expect(!FileManager.default.fileExists(atPath: path + "-rebuild.lock"))

        // The same backlog with the intake quiet is rebuilt.
        let (quietFolder, quietPath, _) = try EngineDeferralTests.log(customers: 300, days: 200)
        defer { try? FileManager.default.removeItem(at: quietFolder) }
        let quietIntake = FakeIntake()
        quietIntake.setBusy(false)
        let quiet = EngineDeferralTests.engine(quietPath, intake: quietIntake, deferAtMost: 0)
        quiet.projectionRebuildThreshold = 1_000
        quiet.runOnce(try EventLog(path: quietPath))
        #expect(quiet.status.projection == Int64(events))
        #expect(FileManager.default.fileExists(atPath: quietPath + "-rebuild.lock"))
    }

    @Test("a backlog met while the intake is quiet goes in a few large steps on every core; in small steps or large, one run decides what a batch run does")
    func largerStepsWhileQuiet() throws {
        let lines = try LiveEngineTests.shop(customers: 300, days: 200, seed: 11)
        let half = lines.count / 2
        // Two logs alike: the first half reacted to, then the second half waiting for the engine.
        func backlog() throws -> (folder: URL, path: String) {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-steps-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let path = folder.appendingPathComponent("shop.db").path
            let log = try EventLog(path: path)
            try log.attachVault(environment: [:])
            let options = IngestOptions(now: try Timestamp.parse("2024-12-31T00:00:00Z"))
            for (name, part) in [("a", lines[..<half]), ("b", lines[half...])] {
                let file = folder.appendingPathComponent("\(name).ndjson").path
                try (part.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
                _ = try Ingester(log: log, options: options).ingest([file])
                if name == "a" {
                    // The engine ran as the first half arrived: its clock at the last of them.
                    let last = try JSONParser.parse(lines[half - 1])["at"]?.stringValue ?? ""
                    let first = EngineDeferralTests.engine(path, intake: FakeIntake(), deferAtMost: 0, now: try Timestamp.parse(last))
                    first.runOnce(log)
                    #expect(first.status.reactor == Int64(half))
                }
            }
            return (folder, path)
        }

        // As the service opens it: personal data opened for the plays (birthdays).
        func opened(_ path: String) throws -> EventLog {
            let log = try EventLog(path: path)
            try log.attachVault(environment: [:])
            return log
        }
        let (busyFolder, busyPath) = try backlog()
        defer { try? FileManager.default.removeItem(at: busyFolder) }
        let busy = EngineDeferralTests.engine(busyPath, intake: FakeIntake(), deferAtMost: 0, threads: nil)
        busy.customersPerStep = 20
        busy.customersPerQuietStep = 1_000
        busy.runOnce(try opened(busyPath))

        let (quietFolder, quietPath) = try backlog()
        defer { try? FileManager.default.removeItem(at: quietFolder) }
        let quietIntake = FakeIntake()
        quietIntake.setBusy(false)
        let quiet = EngineDeferralTests.engine(quietPath, intake: quietIntake, deferAtMost: 0, threads: nil)
        quiet.customersPerStep = 20
        quiet.customersPerQuietStep = 1_000
        quiet.runOnce(try opened(quietPath))

        #expect(busy.status.reactor == Int64(lines.count) && quiet.status.reactor == Int64(lines.count))
        // Under load, steps of 20 customers; quiet, one step takes every customer.
        #expect(busy.status.lastRunSteps > 10)
        #expect(quiet.status.lastRunSteps == 1)
        #expect(quiet.status.lastRunCustomersLoaded < busy.status.lastRunCustomersLoaded)
        // Both decide what one batch run over the same backlog decides: the busy one too, in one
        // run although the day's ticks took many of its steps.
        let (batchFolder, batchPath) = try backlog()
        defer { try? FileManager.default.removeItem(at: batchFolder) }
        try ReactorStore(log: try opened(batchPath)).run(until: try Timestamp.parse("2024-12-31T00:00:00Z"),
                                                           engine: ReactorEngine.withFittedModels(configuration: ReactorConfiguration()))
        let batch = try LiveEngineTests.outbox(batchPath)
        #expect(batch.count > 1_000)
        #expect(try LiveEngineTests.outbox(busyPath) == batch)
        #expect(try LiveEngineTests.outbox(quietPath) == batch)
    }
}
