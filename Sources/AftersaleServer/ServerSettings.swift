import AftersaleCore
public import AftersaleReactor
public import AftersaleDelivery

/// What `aftersale serve` needs: where to listen, the database, the secrets and limits.
///
/// Secrets come from the environment or the config file's `serve` section, never the command line:
/// a command line is visible to every user of the machine (`ps`) and kept in shell histories.
public struct ServerSettings: Sendable {
    public var databasePath: String
    public var host = "127.0.0.1"
    public var port = 8080
    /// Bearer token of `/v1/...` (`AFTERSALE_API_TOKEN`). Unset: the API answers 503.
    public var apiToken: String?
    /// The Shopify app's client secret, which signs its webhooks (`AFTERSALE_SHOPIFY_SECRET`).
    public var shopifySecret: String?
    /// Segment's write key, the Basic-auth user name of its calls (`AFTERSALE_SEGMENT_WRITE_KEY`).
    public var segmentWriteKey: String?
    /// Put before Shopify's customer ids, to keep several shops apart in one log.
    public var shopifyCustomerPrefix = ""
    /// Requests with a larger body answer 413.
    public var maxBodyBytes = 16 * 1024 * 1024
    /// The clock service: how often (seconds of real time) the engine brings its clock up to now
    /// when no event comes, so time-based plays fire as days pass.
    public var clockIntervalSeconds = 60.0
    /// The reactor's policies (the config file's other sections).
    public var reactor = ReactorConfiguration()
    /// The reactor's threads (nil: one per core when it judges the whole shop; one for the live
    /// engine's steps, which are small and share the cores with the requests).
    public var threads: Int?
    /// The live engine's thread runs at this nice value (0-19, Linux): under load, the cores go to
    /// the requests and the intake's commits first, and the engine catches up with larger runs.
    public var engineNiceness = 10
    /// Run the live engine (false: the server takes events and answers reads; `aftersale actions`
    /// from cron brings the read models and the reactor up).
    public var liveEngine = true
    /// The live engine's pause after each run, in milliseconds: commits arriving meanwhile are taken
    /// together by the next run.
    public var engineGapMilliseconds = 250
    /// The live engine decides for at most this many customers per write transaction (a backlog,
    /// or a day's ticks of the whole shop, goes in several): the intake waits for no longer.
    public var engineCustomersPerStep = 2_000
    /// While the intake is quiet (no commit in the last second), a step of the live engine takes up
    /// to this many customers and decides on every core (0: as under load; see
    /// `LiveEngine.customersPerQuietStep`).
    public var engineCustomersPerQuietStep = 5_000
    /// While the intake commits back to back (a burst), the live engine waits at most this many
    /// milliseconds for a pause before each step (0: never waits; see `LiveEngine.waitForQuietIntake`).
    public var engineDeferMilliseconds = 1_000
    /// The wait once the engine's steps keep leaving events for the next: the intake outruns it
    /// (see `LiveEngine.deferBehindSeconds`). Never shorter than `engineDeferMilliseconds`: at or
    /// under it (0, say), the engine never waits longer.
    public var engineDeferBehindMilliseconds = 5_000
    /// The intake counts as busy while its last commit ended less than this many milliseconds ago
    /// (see `LiveEngine.quietSeconds`).
    public var engineQuietMilliseconds = 200
    /// The live engine waits for a busy intake only while less than this many cores are spare
    /// (idle, or its own; see `LiveEngine.spareCoresToRun`). 0: CPU never makes it wait.
    public var engineSpareCores = 0.5
    /// ... or while the intake's commits take this many requests each or more on average (its
    /// requests queue for its writer; see `LiveEngine.intakeGroupToWait`).
    public var engineIntakeGroup = 8.0
    /// The intake holds the facts of up to this many appended events in memory and stores them
    /// together (0: with each commit; see `Intake.factsHeldAtMost`).
    public var intakeFactsHeld = 50_000
    /// Under a stream of requests the intake begins a commit at least this many milliseconds after
    /// its last one ended, so the requests arriving meanwhile share it (see `Intake.commitDelaySeconds`);
    /// 0 commits what is ready at once. On by default: a steady stream's commits then write fewer
    /// pages for the same events at no cost to its slowest requests, and a request after a quiet
    /// spell waits for nothing (`tools/results/serve-load.md`, thirtieth and thirty-first sessions).
    public var intakeCommitDelayMilliseconds = 2.0
    /// Each of the service's long-lived connections (intake, engine, delivery, reads) caches at
    /// most this many MiB of pages.
    public var cacheMebibytesPerConnection = 8
    /// Delivery of commands as webhooks (the config's `webhooks` section and
    /// `AFTERSALE_WEBHOOK_SECRET`): runs in the service when a destination is set.
    public var delivery = DeliverySettings()
    /// Delivery releases the due commands of at most this many customers per write transaction,
    /// going on where the last release stopped (a backlog, say a history just imported, goes in
    /// several): the intake waits for no longer.
    public var deliveryCustomersPerRelease = 2_000

    public init(databasePath: String) {
        self.databasePath = databasePath
    }
}

/// A setting that cannot be used: which one and why.
public struct SettingsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension ServerSettings {
    /// Settings from the config file's `serve` section (its other sections are the reactor's), then
    /// the environment, which wins.
    ///
    /// - Parameters:
    ///   - configText: the config file's text, if there is one; `configName` names it in errors.
    public static func load(databasePath: String, configText: String?, configName: String = "config",
                            environment: [String: String]) throws(SettingsError) -> ServerSettings {
        var settings = ServerSettings(databasePath: databasePath)
        if let configText {
            do { settings.reactor = try ReactorConfiguration.load(json: configText) } catch {
                throw SettingsError("\(configName): \(error)")
            }
            let root: JSONValue
            do { root = try JSONParser.parse(configText) } catch { throw SettingsError("\(configName): \(error)") }
            if let serve = root["serve"] {
                guard let object = serve.objectValue else { throw SettingsError("\(configName): serve: expected an object") }
                try settings.read(object, name: "\(configName): serve")
            }
        }
        do { settings.delivery = try DeliverySettings.load(configText: configText, configName: configName, environment: environment) } catch {
            throw SettingsError(error.description)
        }
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let v = env("AFTERSALE_API_TOKEN") { settings.apiToken = v }
        if let v = env("AFTERSALE_SHOPIFY_SECRET") { settings.shopifySecret = v }
        if let v = env("AFTERSALE_SEGMENT_WRITE_KEY") { settings.segmentWriteKey = v }
        if let v = env("AFTERSALE_SHOPIFY_CUSTOMER_PREFIX") { settings.shopifyCustomerPrefix = v }
        return settings
    }

    private mutating func read(_ object: JSONObject, name: String) throws(SettingsError) {
        for member in object.members {
            let key = member.key, value = member.value
            func text() throws(SettingsError) -> String {
                guard let s = value.stringValue, !s.isEmpty else { throw SettingsError("\(name).\(key): expected a non-empty string") }
                return s
            }
            func number(_ range: ClosedRange<Double>) throws(SettingsError) -> Double {
                guard let n = value.doubleValue, range.contains(n) else {
                    throw SettingsError("\(name).\(key): expected a number from \(range.lowerBound) to \(range.upperBound)")
                }
                return n
            }
            func count(_ range: ClosedRange<Int>) throws(SettingsError) -> Int {
                guard let n = value.intValue, range.contains(n) else {
                    throw SettingsError("\(name).\(key): expected an integer from \(range.lowerBound) to \(range.upperBound)")
                }
                return n
            }
            switch key {
            case "host": host = try text()
            case "port": port = try count(0...65535)
            case "api_token": apiToken = try text()
            case "shopify_secret": shopifySecret = try text()
            case "segment_write_key": segmentWriteKey = try text()
            case "shopify_customer_prefix":
                guard let s = value.stringValue else { throw SettingsError("\(name).\(key): expected a string") }
                shopifyCustomerPrefix = s
            case "max_body_bytes": maxBodyBytes = try count(1...1 << 30)
            case "clock_interval_seconds": clockIntervalSeconds = Double(try count(1...86_400))
            case "threads": threads = try count(1...1024)
            case "engine_gap_ms": engineGapMilliseconds = try count(0...60_000)
            case "engine_niceness": engineNiceness = try count(0...19)
            case "engine_customers_per_step": engineCustomersPerStep = try count(1...10_000_000)
            case "engine_customers_per_quiet_step": engineCustomersPerQuietStep = try count(0...10_000_000)
            case "engine_defer_ms": engineDeferMilliseconds = try count(0...60_000)
            case "engine_defer_behind_ms": engineDeferBehindMilliseconds = try count(0...600_000)
            case "engine_quiet_ms": engineQuietMilliseconds = try count(1...60_000)
            case "engine_spare_cores": engineSpareCores = try number(0...1_024)
            case "engine_intake_group": engineIntakeGroup = try number(1...1_000_000)
            case "delivery_customers_per_release": deliveryCustomersPerRelease = try count(1...10_000_000)
            case "intake_facts_held": intakeFactsHeld = try count(0...10_000_000)
            case "intake_commit_delay_ms": intakeCommitDelayMilliseconds = try number(0...1_000)
            case "cache_mib_per_connection": cacheMebibytesPerConnection = try count(1...65_536)
            case "live_engine":
                guard let b = value.boolValue else { throw SettingsError("\(name).\(key): expected true or false") }
                liveEngine = b
            default: throw SettingsError("\(name).\(key): unknown key")
            }
        }
    }
}
