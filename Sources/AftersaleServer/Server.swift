import AftersaleSQLite
import AftersaleStore
import Foundation
public import Hummingbird
public import Logging
import Metrics
import ServiceLifecycle

/// Runs a thread-owning part (the intake, the engine) as a service: stopped at graceful shutdown,
/// after the HTTP server has finished its requests (a service group stops in reverse order).
struct StoppingService: Service {
    let name: String
    let stop: @Sendable () -> Void

    func run() async throws {
        // Wait for shutdown; cancellation (a failed sibling) stops it too.
        try? await gracefulShutdown()
        stop()
    }
}

/// `aftersale serve`: the HTTP server with its intake and live engine.
public enum AftersaleServer {
    /// Opens the key vault beside the log (saying where a first run made the master key, or why
    /// personal data is unavailable) and seals what an earlier version kept in clear, once.
    static func preparePersonalData(_ path: String, logger: Logger) throws {
        let log = try EventLog(path: path)
        let vault = try log.attachVault(environment: ProcessInfo.processInfo.environment)
        if let file = vault.createdMasterKeyFile {
            logger.notice("personal data is kept sealed; its master key is new, in a key file beside the database: keep a copy apart from backups, or set AFTERSALE_MASTER_KEY",
                          metadata: ["file": "\(file)"])
        }
        if let problem = vault.problem { logger.error("personal data is unavailable", metadata: ["why": "\(problem)"]) }
        if try log.needsSealingMigration() {
            logger.notice("sealing the personal data already in the log (once)")
            let summary = try log.sealPersonalDataInPlace()
            logger.notice("sealed", metadata: ["events": "\(summary.events)", "states": "\(summary.states)", "deliveries": "\(summary.deliveries)"])
        }
    }

    /// Opens the log and starts the intake and the engine.
    public static func start(settings: ServerSettings, clock: any ServerClock, logger: Logger,
                             metrics: ServerMetrics = ServerMetrics()) throws -> ServerParts {
        let intake = Intake(path: settings.databasePath, clock: clock)
        let engine = LiveEngine(path: settings.databasePath, clock: clock, configuration: settings.reactor, threads: settings.threads,
                                clockIntervalSeconds: settings.clockIntervalSeconds, niceness: Int32(settings.engineNiceness), logger: logger)
        engine.gapSeconds = Double(settings.engineGapMilliseconds) / 1000
        engine.customersPerStep = settings.engineCustomersPerStep
        engine.customersPerQuietStep = settings.engineCustomersPerQuietStep
        engine.deferAtMostSeconds = Double(settings.engineDeferMilliseconds) / 1000
        engine.deferBehindSeconds = Double(settings.engineDeferBehindMilliseconds) / 1000
        engine.quietSeconds = Double(settings.engineQuietMilliseconds) / 1000
        engine.sinceIntakeCommitted = { intake.secondsSinceLastCommit }
        let meter = SpareCPUMeter()
        engine.spareCores = { meter.read() }
        let groups = IntakeGroupMeter { intake.groupTotals }
        engine.intakeGroupSize = { groups.read() }
        engine.spareCoresToRun = settings.engineSpareCores
        engine.intakeGroupToWait = settings.engineIntakeGroup
        engine.cacheMebibytes = settings.cacheMebibytesPerConnection
        intake.cacheMebibytes = settings.cacheMebibytesPerConnection
        intake.factsHeldAtMost = settings.intakeFactsHeld
        intake.commitDelaySeconds = settings.intakeCommitDelayMilliseconds / 1000
        engine.intakeGathers = Double(intake.requestsGatheredPerCommit)
        intake.logger = logger
        // The service's writers take turns in the process, or the intake, committing back to back,
        // would keep the engine from ever finding SQLite's write lock free.
        let turns = WriterTurns()
        intake.writerTurns = turns
        engine.writerTurns = turns
        if settings.liveEngine {
            // Only the engine's projection reads it: without one, the intake posts to no one.
            let board = HeldFactsBoard()
            intake.heldFactsBoard = board
            engine.heldFactsBoard = board
        }
        let delivery: DeliveryService?
        if settings.delivery.destinations.isEmpty {
            delivery = nil
        } else if settings.delivery.secrets.isEmpty {
            // Never unsigned: delivery stays off until a secret is set.
            logger.error("delivery is off: destinations are configured but no signing secret (AFTERSALE_WEBHOOK_SECRET or webhooks.secret)")
            delivery = nil
        } else {
            delivery = DeliveryService(path: settings.databasePath, clock: clock, configuration: settings.reactor, settings: settings.delivery,
                                       logger: logger)
        }
        intake.onCommit = { _ in engine.wake() }
        metrics.observeIntake { intake.groupTotals }
        engine.onWait = { _ in metrics.countEngineWait() }
        if settings.liveEngine {
            // As /readyz counts them: against what this server appended too.
            metrics.observeLags {
                let status = engine.status
                let head = max(status.head, intake.lastAppended)
                return (max(0, head - status.projection), max(0, head - status.reactor))
            }
            metrics.observeJudging { engine.status.judgingEveryone }
        }
        engine.onRun = { status, seconds in
            metrics.recordEngine(status, seconds: seconds)
            delivery?.wake()
        }
        delivery?.onRun = { status, summary in metrics.recordDelivery(status, summary) }
        delivery?.cacheMebibytes = settings.cacheMebibytesPerConnection
        delivery?.writerTurns = turns
        delivery?.customersPerRelease = settings.deliveryCustomersPerRelease
        if settings.liveEngine {
            delivery?.mayRun = { intake.lastAppended - engine.status.reactor <= DeliveryService.maxReactorLag }
        }
        try preparePersonalData(settings.databasePath, logger: logger)
        try intake.start()
        if settings.liveEngine { engine.start() }
        delivery?.start()
        return ServerParts(settings: settings, intake: intake, engine: engine, delivery: delivery, metrics: metrics, clock: clock, logger: logger)
    }

    /// The application over started parts; its shutdown stops them.
    ///
    /// - Parameter onRunning: called with the port once the server listens (0 in the settings asks
    ///   the system for a free one).
    public static func application(_ parts: ServerParts, onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol {
        Application(
            router: Routes.router(parts),
            configuration: .init(address: .hostname(parts.settings.host, port: parts.settings.port), serverName: "aftersale"),
            // Stopped in reverse order: the intake before the engine, both after the HTTP server.
            // Delivery stops first: the requests it has out are answered and recorded.
            services: [StoppingService(name: "engine", stop: parts.engine.stop), StoppingService(name: "intake", stop: parts.intake.stop),
                       StoppingService(name: "delivery", stop: { parts.delivery?.stop() }), MemoryTrimService()],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? parts.settings.port) },
            logger: parts.logger
        )
    }
}

extension AftersaleServer {
    /// The process's service: logs to standard error (`AFTERSALE_LOG_LEVEL`, default info), metrics
    /// to `/metrics`, and runs until SIGTERM or SIGINT, then stops accepting, finishes the requests
    /// in flight and the commit under way, and returns.
    public static func run(settings: ServerSettings, clock: any ServerClock, logLevel: String?,
                           onRunning: @escaping @Sendable (Int) async -> Void) async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "aftersale")
        logger.logLevel = logLevel.flatMap(Logger.Level.init(rawValue:)) ?? .info
        let metrics = ServerMetrics()
        MetricsSystem.bootstrap(metrics.factory)
        ProcessMemory.configure()
        let app = application(try start(settings: settings, clock: clock, logger: logger, metrics: metrics), onRunning: onRunning)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        logger.info("stopped")
    }
}
