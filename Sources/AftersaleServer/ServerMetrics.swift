public import AftersaleDelivery
import AftersaleSQLite
import CoreMetrics
import Foundation
import Metrics
#if canImport(CMalloc)
import CMalloc
#endif
public import Prometheus
import Synchronization

/// The service's metrics, through swift-metrics into a Prometheus registry of its own, served by
/// `GET /metrics`. A registry per server (not the process-wide `MetricsSystem`) keeps servers in
/// one process (tests) apart; `aftersale serve` also bootstraps the process-wide system with it, so
/// libraries' metrics land there too.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory
    private let projectionLag: CoreMetrics.Gauge
    private let reactorLag: CoreMetrics.Gauge
    /// 1 while every customer is being judged again (a model fitted, new settings), else 0.
    private let judgingEveryone: CoreMetrics.Gauge
    private let engineRun: CoreMetrics.Timer
    private let engineFailures: CoreMetrics.Counter
    /// The lags as of now (see `observeLags`).
    private let lags = Mutex<(@Sendable () -> (projection: Int64, reactor: Int64))?>(nil)
    /// Whether every customer is being judged again, as of now (see `observeJudging`).
    private let judging = Mutex<(@Sendable () -> Bool)?>(nil)
    private let intakeCommits: CoreMetrics.Counter
    private let intakeRequests: CoreMetrics.Counter
    private let engineWaits: CoreMetrics.Counter
    /// The intake's running totals (see `observeIntake`), and those the counters stood at.
    private let intake = Mutex<(source: (@Sendable () -> (commits: UInt64, requests: UInt64))?, counted: (commits: UInt64, requests: UInt64))>((nil, (0, 0)))
    /// The handlers of the series every request touches, made once: making one through the factory
    /// for every request (its name checked, its labels joined and looked up in the registry under
    /// its lock) was a visible part of what a single event's request cost.
    private let requestTimers = SeriesHandlers<RequestSeries, CoreMetrics.Timer>()
    private let eventCounters = SeriesHandlers<EventSeries, CoreMetrics.Counter>()

    private struct RequestSeries: Hashable, Sendable {
        var route: String
        var method: String
        var status: Int
    }

    private struct EventSeries: Hashable, Sendable {
        var source: String
        var outcome: String
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Request latencies of a few hundred microseconds to seconds (a first engine run is longer).
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
        projectionLag = CoreMetrics.Gauge(label: "aftersale_projection_lag_events", factory: factory)
        reactorLag = CoreMetrics.Gauge(label: "aftersale_reactor_lag_events", factory: factory)
        judgingEveryone = CoreMetrics.Gauge(label: "aftersale_reactor_judging_everyone", factory: factory)
        engineRun = CoreMetrics.Timer(label: "aftersale_engine_run_seconds", factory: factory)
        engineFailures = CoreMetrics.Counter(label: "aftersale_engine_failures_total", factory: factory)
        intakeCommits = CoreMetrics.Counter(label: "aftersale_intake_commits_total", factory: factory)
        intakeRequests = CoreMetrics.Counter(label: "aftersale_intake_committed_requests_total", factory: factory)
        engineWaits = CoreMetrics.Counter(label: "aftersale_engine_waits_total", factory: factory)
    }

    /// Where the intake's commits and the requests they answered come from at each scrape (running
    /// totals, `Intake.groupTotals`): their ratio is the requests a commit took, about one at a
    /// shop's usual pace, more as requests queue for the writer or a commit delay gathers them.
    public func observeIntake(_ source: @escaping @Sendable () -> (commits: UInt64, requests: UInt64)) {
        intake.withLock { $0.source = source }
    }

    /// The live engine waited for a committing intake on a machine without room for its steps
    /// (see `LiveEngine.spareCoresToRun`).
    public func countEngineWait() {
        engineWaits.increment()
    }

    /// Events by source (`api`, `shopify`, `segment`) and outcome (`appended`, `duplicate`, ...).
    public func countEvent(source: String, outcome: String, by n: Int = 1) {
        eventCounters.handler(for: EventSeries(source: source, outcome: outcome)) {
            CoreMetrics.Counter(label: "aftersale_events_total", dimensions: [("source", source), ("outcome", outcome)], factory: factory)
        }.increment(by: n)
    }

    /// Customers forgotten (an erasure request carried out).
    public func countForgotten() {
        CoreMetrics.Counter(label: "aftersale_customers_forgotten_total", factory: factory).increment()
    }

    /// A request's time, by route pattern, method and status.
    public func recordRequest(route: String, method: String, status: Int, nanoseconds: Int64) {
        requestTimers.handler(for: RequestSeries(route: route, method: method, status: status)) {
            CoreMetrics.Timer(label: "aftersale_http_request_duration_seconds",
                              dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory)
        }.recordNanoseconds(nanoseconds)
    }

    /// Where the lags come from at each scrape. Recorded only as each engine run ended, they were
    /// those of the last run's end while a long run went on (minutes, under a load that never
    /// pauses), and fell while the log's head ran away.
    public func observeLags(_ source: @escaping @Sendable () -> (projection: Int64, reactor: Int64)) {
        lags.withLock { $0 = source }
    }

    /// Where `aftersale_reactor_judging_everyone` comes from at each scrape: a walk after a model
    /// fitted spans one long engine run, which would end before the gauge moved.
    public func observeJudging(_ source: @escaping @Sendable () -> Bool) {
        judging.withLock { $0 = source }
    }

    public func recordEngine(_ status: EngineStatus, seconds: Double) {
        projectionLag.record(Double(status.projectionLag))
        reactorLag.record(Double(status.reactorLag))
        judgingEveryone.record(status.judgingEveryone ? 1 : 0)
        engineRun.recordNanoseconds(Int64(seconds * 1e9))
        if status.lastError != nil { engineFailures.increment() }
    }

    /// Tries by outcome (`delivered`, `retrying`, `failed`), the queue's length and how far behind it is.
    public func recordDelivery(_ status: DeliveryStatus, _ summary: DeliveryRunSummary) {
        for (outcome, n) in [("delivered", summary.delivered), ("retrying", summary.retrying), ("failed", summary.failed)] where n > 0 {
            CoreMetrics.Counter(label: "aftersale_deliveries_total", dimensions: [("outcome", outcome)], factory: factory).increment(by: n)
        }
        CoreMetrics.Gauge(label: "aftersale_delivery_queued", factory: factory).record(Double(status.queued))
        CoreMetrics.Gauge(label: "aftersale_delivery_lag_seconds", factory: factory).record(status.lagSeconds)
        if status.lastError != nil { CoreMetrics.Counter(label: "aftersale_delivery_failures_total", factory: factory).increment() }
    }

    /// The Prometheus text exposition of every metric, the process's memory as of now included.
    public func text() -> [UInt8] {
        recordMemory()
        if let source = lags.withLock({ $0 }) {
            let now = source()
            projectionLag.record(Double(now.projection))
            reactorLag.record(Double(now.reactor))
        }
        if let source = judging.withLock({ $0 }) {
            judgingEveryone.record(source() ? 1 : 0)
        }
        // Counters only go up: each scrape adds what the totals gained since the one before.
        let gained: (commits: UInt64, requests: UInt64)? = intake.withLock { state in
            guard let source = state.source else { return nil }
            let now = source()
            let gained = (now.commits &- min(now.commits, state.counted.commits), now.requests &- min(now.requests, state.counted.requests))
            state.counted = now
            return gained
        }
        if let gained {
            if gained.commits > 0 { intakeCommits.increment(by: Int64(gained.commits)) }
            if gained.requests > 0 { intakeRequests.increment(by: Int64(gained.requests)) }
        }
        return registry.emitToBuffer()
    }

    /// Where the process's memory is: what SQLite holds (page caches, bounded per connection by
    /// `cache_mib_per_connection`), what the Swift code's heap holds in use, and what the allocator
    /// keeps free for reuse; a resident size that grows while these stay flat is the allocator's.
    func recordMemory() {
        CoreMetrics.Gauge(label: "aftersale_sqlite_memory_bytes", factory: factory).record(Double(Database.memoryUsed))
        #if canImport(CMalloc)
        let heap = mallinfo2()
        CoreMetrics.Gauge(label: "aftersale_heap_in_use_bytes", factory: factory).record(Double(heap.uordblks + heap.hblkhd))
        CoreMetrics.Gauge(label: "aftersale_heap_free_bytes", factory: factory).record(Double(heap.fordblks))
        #endif
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
           let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) {
            CoreMetrics.Gauge(label: "process_resident_memory_bytes", factory: factory).record(pages * Double(sysconf(Int32(_SC_PAGESIZE))))
        }
    }
}

/// Handlers of one metric's series by their labels, kept once made. At most `limit` are kept: a
/// client sending made-up methods makes series in the registry anyway, but not a cache that grows
/// without end beside it.
final class SeriesHandlers<Key: Hashable & Sendable, Handler: Sendable>: Sendable {
    private let handlers = Mutex<[Key: Handler]>([:])
    private let limit: Int

    init(limit: Int = 1_000) { self.limit = limit }

    /// The handler of `key`'s series, made by `make` the first time.
    func handler(for key: Key, make: () -> Handler) -> Handler {
        if let known = handlers.withLock({ $0[key] }) { return known }
        let made = make()
        handlers.withLock { if $0.count < limit { $0[key] = made } }
        return made
    }
}
