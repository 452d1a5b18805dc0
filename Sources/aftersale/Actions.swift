import AftersaleCore
import AftersaleReactor
import AftersaleOutbox
import AftersaleStore
import ArgumentParser
import CustomerValue
import Foundation

/// Options of the commands that run the reactor.
struct ReactorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Bring the reactor up to this time first (default: the clock).", valueName: "RFC3339"))
    var now: String?

    @Option(help: ArgumentHelp("Policy settings (default: $AFTERSALE_CONFIG, else ./aftersale.config.json if present, else the documented defaults). May also come before the command; given both, the one after the command wins.",
                               valueName: "FILE"))
    var config: String?

    @Option(help: ArgumentHelp("Run the reactor's customers on this many threads (default: one per core). The decisions are the same for any number.",
                               valueName: "N"))
    var threads: Int?

    @Option(name: .customLong("customers-per-pass"),
            help: ArgumentHelp("Hold at most this many customers in memory at once; a run over more goes over the log in passes (default 10000). The decisions are the same for any number.",
                               valueName: "N"))
    var customersPerPass: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads \(threads): give at least 1") }
        if let customersPerPass, customersPerPass < 1 { throw ValidationError("--customers-per-pass \(customersPerPass): give at least 1") }
    }

    /// The reactor's store on the log, with the threads and memory asked for.
    func store(_ log: EventLog) throws -> ReactorStore {
        let store = try ReactorStore(log: log, parallelism: threads)
        if let customersPerPass { store.customersPerPass = customersPerPass }
        return store
    }

    func clock() throws -> Timestamp {
        guard let now else { return try WallClock.now() }
        do { return try Timestamp.parse(now) } catch { throw CommandFailure("--now \(now) is not an RFC 3339 timestamp: \(error.message)") }
    }

    /// The configuration, checked at start: a bad file is an error that names the key and why.
    func configuration() throws -> ReactorConfiguration {
        let path = config ?? ProcessInfo.processInfo.environment["AFTERSALE_CONFIG"]
            ?? (FileManager.default.fileExists(atPath: "aftersale.config.json") ? "aftersale.config.json" : nil)
        guard let path else { return ReactorConfiguration() }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CommandFailure("\(path): cannot read the configuration") }
        do {
            return try ReactorConfiguration.load(json: text)
        } catch {
            throw CommandFailure("\(path): \(error)")
        }
    }

    /// A fresh engine with the configuration and the model-driven forecaster.
    func engine() throws -> ReactorEngine {
        ReactorEngine.withFittedModels(configuration: try configuration())
    }
}

extension Aftersale {
    struct Actions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Next-best-action commands due by --now, after bringing the reactor up to it.",
            discussion: """
                The reactor follows the log from its checkpoint, folds each customer's state, and applies \
                the post-purchase playbook's policies; time-based plays (birthdays, anniversaries, \
                replenishment, win-back) fire as the clock passes them, so a daily run from cron misses \
                nothing. --status all also lists cancelled, suppressed and dispatched commands.
                """
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var reactor: ReactorOptions

        @Option(help: ArgumentHelp("Only this customer's commands.", valueName: "ID"))
        var customer: String?

        @Option(help: "pending (due by --now) or all.")
        var status: Filter = .pending

        @Flag(help: "One JSON object per line.")
        var json = false

        enum Filter: String, ExpressibleByArgument, CaseIterable { case pending, all }

        func run() throws {
            let engine = try reactor.engine()  // a bad configuration is the first error
            let now = try reactor.clock()
            let log = try database.openLog()
            let store = try reactor.store(log)
            let run = try store.run(until: now, engine: engine)
            // Pending commands older than the catch-up window are not sent late: dispatch records them
            // as suppressed. Listing them as due would be noise after importing years of history.
            let window = now.adding(days: -Double(engine.configuration.clock.catchUpDays))
            let pending = status == .pending
            let commands = try store.commands(customer: customer, pendingDueBy: pending ? now : nil, dueFrom: pending ? window : nil)
            for command in commands {
                print(json ? CommandFormat.json(command) : CommandFormat.line(command))
            }
            if !json {
                // Customers loaded: those with a new event or a tick due (or all, after a new model).
                Terminal.error("reactor: \(run.events) new events, \(run.customersLoaded) customers loaded, \(run.scheduled) commands scheduled"
                    + (run.passes > 1 ? " in \(run.passes) passes" : "") + "; "
                    + "time: loading \(seconds(run.loadSeconds)), events \(seconds(run.eventSeconds)), clock \(seconds(run.clockSeconds)), "
                    + "writing \(run.written) commands and customers \(seconds(run.saveSeconds))")
                if pending {
                    let stale = try store.commandCount(customer: customer, pendingDueBy: window.adding(millis: -1))
                    Terminal.error("\(commands.count) pending commands due by \(now)"
                        + (stale > 0 ? "; \(stale) older ones are past the \(engine.configuration.clock.catchUpDays)-day catch-up window" : ""))
                } else {
                    Terminal.error("\(commands.count) commands")
                }
            }
        }
    }

    struct Dispatch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand due commands to the outside world as NDJSON and record each hand-off in the log.",
            discussion: """
                Each line is one command with its id (the idempotency key). The hand-off is recorded as \
                an action.dispatched event and the command marked dispatched in the same transaction: \
                at least once, never silently lost; a crash between writing and recording re-sends the \
                same ids. Before a command goes out, consent, quiet hours, caps and the pause while a \
                return or complaint is open are checked again; what fails is recorded as suppressed.
                """
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var reactor: ReactorOptions

        @Option(help: ArgumentHelp("Where to write the commands; - is standard output.", valueName: "FILE"))
        var out = "-"

        func run() throws {
            let engine = try reactor.engine()  // a bad configuration is the first error
            let now = try reactor.clock()
            let log = try database.openLog()
            let store = try reactor.store(log)
            let sink = try OutputSink(path: out)
            defer { sink.close() }
            let result = try store.dispatch(now: now, engine: engine) { commands in
                var bytes: [UInt8] = []
                for command in commands { bytes += Array((CommandFormat.json(command, status: "dispatched") + "\n").utf8) }
                try sink.write(bytes)
            }
            Terminal.error("dispatched \(result.dispatched.count), suppressed at hand-off \(result.suppressed.count)")
        }
    }
}

/// `1.23 s`.
func seconds(_ s: Double) -> String { String(format: "%.2f s", s) }

/// How commands print.
enum CommandFormat {
    static func json(_ c: Command, status: String? = nil) -> String { c.jsonText(status: status) }

    static func line(_ c: Command) -> String {
        var s = "\(c.due.description)  \(c.customer)  \(c.kind.rawValue) via \(c.channel.rawValue)  [\(c.status.name)]  \(c.reason)"
        switch c.status {
        case .cancelled(let by, let reason): s += "  (cancelled by \(by): \(reason))"
        case .suppressed(let reason): s += "  (suppressed: \(reason))"
        default: break
        }
        return s
    }
}
