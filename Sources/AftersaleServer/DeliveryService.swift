public import AftersaleCore
public import AftersaleDelivery
import AftersaleOutbox
public import AftersaleSQLite
public import AftersaleReactor
import AftersaleStore
import AsyncHTTPClient
import Foundation
public import Logging

/// Where delivery stands, for metrics and tests.
public struct DeliveryStatus: Sendable, Equatable {
    public var runs = 0
    public var delivered = 0
    public var retrying = 0
    public var failed = 0
    /// Deliveries waiting (queued, a retry pending, or behind a disabled destination).
    public var queued = 0
    /// Seconds between the engine's clock and the earliest due time still queued (0 when none).
    public var lagSeconds = 0.0
    public var lastError: String?
}

/// The service's delivery: whenever the live engine has run, and on the clock (retries come due
/// with time alone), a `Deliverer` run releases what is due and sends what may go, on a thread and
/// connection of its own. The queue, tries and retries live in the database, so a restart loses
/// nothing and resends what was in flight with the same ids.
public final class DeliveryService: @unchecked Sendable {
    private let path: String
    private let clock: any ServerClock
    private let configuration: ReactorConfiguration
    private let settings: DeliverySettings
    private let logger: Logger
    private let worker: ServiceThread
    private let lock = NSLock()
    private var current = DeliveryStatus()
    /// The connection's page cache, MiB (see `ServerSettings.cacheMebibytesPerConnection`).
    public var cacheMebibytes = 64
    /// Shared with the service's other writers (see `WriterTurns`).
    public var writerTurns: WriterTurns?
    /// Whether a run may start now. A run releases due commands inside one write transaction and
    /// first brings the reactor up to now, so it waits while the live engine is far behind (it would
    /// hold the intake's commits back while it did the engine's work); the engine wakes it.
    public var mayRun: (@Sendable () -> Bool)?
    /// The customers with a command due one run releases at most, in one transaction; a run that
    /// leaves some wakes the next at once (`Deliverer.customersPerRelease`).
    public var customersPerRelease = 2_000
    /// Events the reactor may be behind the intake for a delivery run to start.
    public static let maxReactorLag: Int64 = 20_000
    /// Called after each run (metrics).
    public var onRun: (@Sendable (DeliveryStatus, DeliveryRunSummary) -> Void)?

    public init(path: String, clock: any ServerClock, configuration: ReactorConfiguration, settings: DeliverySettings, logger: Logger) {
        self.path = path
        self.clock = clock
        self.configuration = configuration
        self.settings = settings
        self.logger = logger
        self.worker = ServiceThread(name: "aftersale-delivery", intervalSeconds: settings.intervalSeconds)
    }

    public var status: DeliveryStatus { lock.withLock { current } }

    public func start() { worker.start { [self] in loop() } }

    /// Something may have come due: run soon.
    public func wake() { worker.wake() }

    /// Finishes the run under way (its requests answered and recorded), then stops.
    public func stop() { worker.stop() }

    private func loop() {
        let client = Deliverer.client(for: settings)
        defer { try? client.syncShutdown() }
        let deliverer: Deliverer
        let queue: DeliveryQueue
        do {
            let log = try EventLog.openForService(path: path, cacheMebibytes: cacheMebibytes, writerTurns: writerTurns)
            deliverer = try Deliverer(settings: settings, store: try ReactorStore(log: log, parallelism: 1), client: client,
                                      realSeconds: { Int64(Date().timeIntervalSince1970) })
            deliverer.customersPerRelease = customersPerRelease
            queue = try DeliveryQueue(log: log)
        } catch {
            lock.withLock { current.lastError = "cannot start: \(error)" }
            logger.error("delivery cannot start", metadata: ["error": "\(error)"])
            return
        }
        while worker.nextRun() {
            if let mayRun, !mayRun() { continue }
            let now = clock.now()
            var status = lock.withLock { current }
            var summary = DeliveryRunSummary()
            do {
                summary = try deliverer.run(now: now, engine: ReactorEngine.withFittedModels(configuration: configuration))
                let waiting = try queue.deliveries(state: "queued")
                status.queued = waiting.count
                status.lagSeconds = waiting.map(\.due).min().map { max(0, Double(now.millis - $0.millis) / 1000) } ?? 0
                status.lastError = nil
                if summary.releaseLeftSome { worker.wake() }
                if summary.attempts > 0 || summary.suppressed > 0 {
                    logger.info("delivery run", metadata: ["tries": "\(summary.attempts)", "delivered": "\(summary.delivered)",
                                                           "retrying": "\(summary.retrying)", "failed": "\(summary.failed)"])
                }
                for name in Set(summary.disabled) { logger.warning("destination disabled after 410 Gone", metadata: ["destination": "\(name)"]) }
            } catch {
                status.lastError = "\(error)"
                logger.error("delivery run failed", metadata: ["error": "\(error)"])
            }
            status.runs += 1
            status.delivered += summary.delivered
            status.retrying += summary.retrying
            status.failed += summary.failed
            lock.withLock { current = status }
            onRun?(status, summary)
        }
    }
}
