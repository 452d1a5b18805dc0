import AftersaleCore
import AftersaleServer
import AftersaleStore
import ArgumentParser
import Foundation

extension Aftersale {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Run as a service: take events over HTTP, keep the read models and the reactor current, answer queries.",
            discussion: """
                Endpoints: POST /v1/events (the catalogue's envelopes, NDJSON or a JSON array), POST \
                /webhooks/shopify, POST /v1/track, /v1/identify and /v1/batch (Segment, RudderStack), GET \
                /v1/customers/ID, /v1/actions, /v1/rejects, /healthz, /readyz and /metrics (openapi.yaml).

                Secrets come from the environment or the config file's "serve" section, never the \
                command line: AFTERSALE_API_TOKEN (the API's bearer token), AFTERSALE_SHOPIFY_SECRET \
                (the Shopify app's client secret), AFTERSALE_SEGMENT_WRITE_KEY. An endpoint whose secret \
                is not set answers 503. SIGTERM or SIGINT stops accepting, finishes the requests in \
                flight and exits 0. An event is acknowledged (2xx) only once committed.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: ArgumentHelp("Policy settings and the \"serve\" section (default: $AFTERSALE_CONFIG, else ./aftersale.config.json if present). May also come before the command.",
                                   valueName: "FILE"))
        var config: String?

        @Option(help: "The address to listen on.")
        var host: String?

        @Option(help: "The port to listen on (0: any free port, printed at start).")
        var port: Int?

        @Option(help: ArgumentHelp("The reactor's threads (default: one per core).", valueName: "N"))
        var threads: Int?

        func run() throws {
            let environment = ProcessInfo.processInfo.environment
            let path = config ?? environment["AFTERSALE_CONFIG"]
                ?? (FileManager.default.fileExists(atPath: "aftersale.config.json") ? "aftersale.config.json" : nil)
            var text: String?
            if let path {
                guard let read = try? String(contentsOfFile: path, encoding: .utf8) else { throw CommandFailure("\(path): cannot read the configuration") }
                text = read
            }
            var settings: ServerSettings
            do {
                settings = try ServerSettings.load(databasePath: database.path, configText: text, configName: path ?? "config", environment: environment)
            } catch {
                throw CommandFailure(error.description)
            }
            if let host { settings.host = host }
            if let port { settings.port = port }
            if let threads { settings.threads = threads }
            // Creates the file when missing, and upgrades an old one, before anything listens.
            _ = try database.openLog(creating: true)
            // AFTERSALE_NOW pins it, as for every command. Read once: the clock is asked for every
            // request and every commit, and reading the environment copies all of it.
            let pinned = try WallClock.pinned()
            let clock = ClosureClock { pinned ?? WallClock.unpinned() }
            let (host, dbPath) = (settings.host, database.path)
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var failure: (any Error)?
            let frozen = settings
            Task {
                do {
                    try await AftersaleServer.run(settings: frozen, clock: clock, logLevel: environment["AFTERSALE_LOG_LEVEL"]) { port in
                        Terminal.error("aftersale serve: listening on http://\(host):\(port) (database \(dbPath))")
                    }
                } catch {
                    failure = error
                }
                done.signal()
            }
            done.wait()
            if let failure { throw CommandFailure("serve: \(failure)") }
        }
    }
}
