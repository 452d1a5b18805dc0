import AftersaleCore
import AftersaleDelivery
import AftersaleReactor
import AsyncHTTPClient
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

    /// The configuration file's path and text, if there is one.
    func configurationText() throws -> (path: String, text: String)? {
        let path = config ?? ProcessInfo.processInfo.environment["AFTERSALE_CONFIG"]
            ?? (FileManager.default.fileExists(atPath: "aftersale.config.json") ? "aftersale.config.json" : nil)
        guard let path else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CommandFailure("\(path): cannot read the configuration") }
        return (path, text)
    }

    /// The configuration, checked at start: a bad file is an error that names the key and why.
    func configuration() throws -> ReactorConfiguration {
        guard let (path, text) = try configurationText() else { return ReactorConfiguration() }
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
            commandName: "actions",
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

        @Option(help: "pending (due by --now), failed (delivery failed for good: send again with `redeliver`) or all.")
        var status: Filter = .pending

        @Flag(help: "One JSON object per line.")
        var json = false

        enum Filter: String, ExpressibleByArgument, CaseIterable { case pending, failed, all }

        func run() throws {
            let engine = try reactor.engine()  // a bad configuration is the first error
            let now = try reactor.clock()
            let log = try database.openLog()
            let store = try reactor.store(log)
            if let judged = try store.judgedConfiguration(), judged != engine.configuration.fingerprint {
                Terminal.error("note: these reactor settings are not those the outbox was judged under: every customer is judged "
                    + "again, in one run (a service on this file with settings of its own judges everyone again after it)")
            }
            // Judging every customer again after a model was fitted goes in steps: a service may be
            // writing to the same file.
            let run = try store.runJudgingEveryoneInSteps(until: now, engine: engine)
            // Pending commands older than the catch-up window are not sent late: dispatch records them
            // as suppressed. Listing them as due would be noise after importing years of history.
            let window = now.adding(days: -Double(engine.configuration.clock.catchUpDays))
            let pending = status == .pending
            var commands = try store.commands(customer: customer, pendingDueBy: pending ? now : nil, dueFrom: pending ? window : nil)
            let queue = try DeliveryQueue(log: log)
            if status == .failed {
                let failed = Set(try queue.deliveries(state: "failed", customer: customer).map(\.command))
                commands = commands.filter { failed.contains($0.id) }
            }
            for command in commands {
                let delivery = try queue.delivery(of: command.id)
                let attempts = delivery == nil ? [] : try queue.attempts(of: command.id)
                print(json ? CommandFormat.json(command, delivery: delivery, attempts: attempts) : CommandFormat.line(command, delivery: delivery))
            }
            if !json {
                // Customers loaded: those with a new event or a tick due (or all, after a new model).
                Terminal.error("reactor: \(run.events) new events, \(run.customersLoaded) customers loaded, \(run.scheduled) commands scheduled"
                    + (run.steps > 1 ? " in \(run.steps) steps" : run.passes > 1 ? " in \(run.passes) passes" : "") + "; "
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
            commandName: "dispatch",
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

        @Option(help: ArgumentHelp("Where to write the commands as NDJSON; - is standard output (the default when no webhook destination is set).", valueName: "FILE"))
        var out: String?

        @Option(help: ArgumentHelp("""
            Deliver as signed webhooks (Standard Webhooks) to this URL, in place of the config's webhooks.destinations. \
            The signing secret comes from AFTERSALE_WEBHOOK_SECRET or the config's webhooks.secret. A run sends what is \
            due, retries whose time has come, and leaves the rest for the next run.
            """, valueName: "URL"))
        var to: String?

        /// The destination `--to` names.
        static let toName = "dispatch-to"

        func run() throws {
            let engine = try reactor.engine()  // a bad configuration is the first error
            let now = try reactor.clock()
            let config = try reactor.configurationText()
            var delivery: DeliverySettings
            do {
                delivery = try DeliverySettings.load(configText: config?.text, configName: config?.path ?? "config", environment: ProcessInfo.processInfo.environment)
            } catch {
                throw CommandFailure(error.description)
            }
            if let to {
                guard to.hasPrefix("http://") || to.hasPrefix("https://") else { throw CommandFailure("--to \(to): expected an http:// or https:// URL") }
                // One name whatever the URL, so deliveries queued by an earlier run follow a new URL.
                var destination = Destination(name: Dispatch.toName, url: to)
                if let first = delivery.destinations.first { (destination.timeoutSeconds, destination.concurrency) = (first.timeoutSeconds, first.concurrency) }
                delivery.destinations = [destination]
            }
            let log = try database.openLog()
            let store = try reactor.store(log)
            if out == nil && !delivery.destinations.isEmpty {
                try deliver(delivery, store: store, engine: engine, now: now)
                return
            }
            let sink = try OutputSink(path: out ?? "-")
            defer { sink.close() }
            let result = try store.dispatch(now: now, engine: engine) { commands in
                var bytes: [UInt8] = []
                for command in commands { bytes += Array((CommandFormat.json(command, status: "dispatched") + "\n").utf8) }
                try sink.write(bytes)
            }
            Terminal.error("dispatched \(result.dispatched.count), suppressed at hand-off \(result.suppressed.count)")
        }

        /// One delivery run: what is due, and retries whose time has come, as signed webhooks.
        private func deliver(_ settings: DeliverySettings, store: ReactorStore, engine: ReactorEngine, now: Timestamp) throws {
            let client = Deliverer.client(for: settings)
            defer { try? client.syncShutdown() }
            let deliverer = try Deliverer(settings: settings, store: store, client: client, realSeconds: { Int64(Date().timeIntervalSince1970) })
            let summary = try deliverer.run(now: now, engine: engine)
            let waiting = try DeliveryQueue(log: store.log).deliveries(state: "queued").count
            Terminal.error("released \(summary.released), suppressed at release \(summary.suppressed)"
                + (summary.unrouted > 0 ? ", \(summary.unrouted) taken by no destination (left pending)" : "")
                + "; \(summary.attempts) tries: delivered \(summary.delivered), to retry \(summary.retrying), failed \(summary.failed)"
                + "; \(waiting) waiting for a later run"
                + (summary.disabled.isEmpty ? "" : "; disabled after 410 Gone: \(Set(summary.disabled).sorted().joined(separator: ", "))")
                + String(format: "; time: release %.2f s, sending %.2f s", summary.releaseSeconds, summary.sendSeconds))
        }
    }

    struct Redeliver: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "redeliver",
            abstract: "Queue failed deliveries again; the next `dispatch` (or the service) sends them with a fresh retry schedule.",
            discussion: """
                A failed delivery is one whose retries ran out or whose destination refused it (listed by \
                `actions --status failed`). It goes again with the same webhook-id and body; the contact \
                rules are not judged again (you are sending it by hand). Once accepted, its action.dispatched \
                event says `redelivered`.
                """
        )

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var reactor: ReactorOptions

        @Argument(help: ArgumentHelp("The commands' ids.", valueName: "ID"))
        var ids: [String]

        func run() throws {
            let now = try reactor.clock()
            let log = try database.openLog()
            let queue = try DeliveryQueue(log: log)
            var problems: [String] = []
            try log.database.inTransaction {
                for id in ids {
                    do {
                        guard let was = try queue.redeliver(id, now: now) else {
                            problems.append("\(id): never delivered as a webhook (no such delivery)")
                            continue
                        }
                        Terminal.error("\(id): queued again for \(was.destination) after \(was.attempts) tries")
                    } catch let error as DeliverySettingsError {
                        problems.append(error.description)
                    }
                }
            }
            if !problems.isEmpty { throw CommandFailure(problems.joined(separator: "\n")) }
        }
    }

    struct Destinations: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "destinations",
            abstract: "List webhook destinations disabled after a 410 Gone, or enable one again.",
            discussion: "Deliveries to a disabled destination wait; once it is enabled, the next run sends them."
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: ArgumentHelp("Enable this destination again.", valueName: "NAME"))
        var enable: String?

        func run() throws {
            let log = try database.openLog()
            let queue = try DeliveryQueue(log: log)
            if let enable {
                guard try queue.enable(enable) else { throw CommandFailure("\(enable): not a disabled destination") }
                Terminal.error("\(enable): enabled")
                return
            }
            let disabled = try queue.disabledDestinations()
            for d in disabled { print("\(d.name)  disabled since \(d.since)  \(d.reason)") }
            if disabled.isEmpty { Terminal.error("no destination is disabled") }
        }
    }
}

/// `1.23 s`.
func seconds(_ s: Double) -> String { String(format: "%.2f s", s) }

/// How commands print.
enum CommandFormat {
    static func json(_ c: Command, status: String? = nil) -> String { c.jsonText(status: status) }

    /// With its delivery as a webhook, if it has one: state, destination and every try.
    static func json(_ c: Command, delivery: Delivery?, attempts: [DeliveryAttempt]) -> String {
        guard let delivery else { return c.jsonText() }
        var text = c.jsonText()
        var o = JSONObject(["state": .string(delivery.state), "destination": .string(delivery.destination), "attempts": .array(attempts.map(\.json))])
        if delivery.state == "queued" { o["next_attempt"] = .string(delivery.nextAttempt.description) }
        text.removeLast()
        return text + ",\"delivery\":" + JSONValue.object(o).compactText + "}"
    }

    static func line(_ c: Command, delivery: Delivery?) -> String {
        guard let delivery else { return line(c) }
        var s = line(c) + "  delivery \(delivery.state) to \(delivery.destination) after \(delivery.attempts) tries"
        if delivery.state == "queued" && delivery.attempts > 0 { s += ", next at \(delivery.nextAttempt)" }
        if let status = delivery.lastStatus { s += ", last answer \(status)" } else if let error = delivery.lastError { s += ", last: \(error)" }
        return s
    }

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
