import AftersaleCore
import AftersaleReactor
import AftersaleOutbox
import AftersaleStore
import ArgumentParser
import Foundation

extension Aftersale {
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Re-run the reactor over the log up to a point and print what it decided, and why.",
            discussion: """
                The answer to "why did this customer get this message?". Replay opens the database \
                read-only and runs the same engine as live runs in memory: it cannot touch the live \
                outbox and never dispatches. --until takes a log position (an integer) or a time \
                (RFC 3339): events that happened by then, and the clock up to then.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: ArgumentHelp("A log position or an RFC 3339 time (default: everything, clock at the last event).", valueName: "TIME|POSITION"))
        var until: String?

        @Option(help: ArgumentHelp("Only this customer's decisions.", valueName: "ID"))
        var customer: String?

        @Option(help: ArgumentHelp("Policy settings, as for actions. May also come before the command; given both, the one after the command wins.", valueName: "FILE"))
        var config: String?

        @Flag(help: "One JSON object per line.")
        var json = false

        func run() throws {
            guard FileManager.default.fileExists(atPath: database.path) else {
                throw CommandFailure("no database at \(database.path): ingest events first, or name it with --db or $AFTERSALE_DB")
            }
            var options = ReactorOptions()
            options.config = config
            var limit: ReactorReplay.Limit?
            if let until {
                if let p = Int64(until) { limit = .position(p) } else {
                    do { limit = .time(try Timestamp.parse(until)) } catch { throw CommandFailure("--until \(until) is neither a log position nor an RFC 3339 time") }
                }
            }
            var engine = try options.engine()
            // The birthday play opens sealed birthdays, live and in replay alike.
            engine.personalData = RememberingOpener(PersonalDataVault.open(besideDatabase: database.path,
                                                                           environment: ProcessInfo.processInfo.environment, mayCreate: false))
            let replay = try ReactorReplay.run(logAt: database.path, engine: engine, until: limit, customer: customer)
            for decision in replay.decisions {
                if json {
                    var line = try JSONParser.parse(CommandFormat.json(decision.command)).objectValue ?? JSONObject()
                    line["cause"] = .string(decision.cause)
                    line["change"] = .string(decision.change)
                    if let delivery = decision.delivery { line["delivery"] = .object(delivery) }
                    print(JSONValue.object(line).compactText)
                } else {
                    var text = "\(decision.cause) -> \(decision.change): \(CommandFormat.line(decision.command))"
                    if let delivery = decision.delivery, let destination = delivery["destination"]?.stringValue {
                        let tries = delivery["attempts"]?.arrayValue?.count ?? 0
                        text += "  (webhook to \(destination), \(tries) \(tries == 1 ? "try" : "tries"))"
                    }
                    print(text)
                }
            }
            let shown = replay.decisions.count
            let position: Int64? = if case .position(let p) = limit { p } else { nil }
            let clock = replay.clock
            if !json { Terminal.error("\(shown) decisions replayed up to \(position.map { "position \($0)" } ?? clock.description); the live outbox was not touched") }
        }
    }
}
