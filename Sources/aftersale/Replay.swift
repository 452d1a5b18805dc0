import AftersaleCore
import AftersaleReactor
import AftersaleStore
import ArgumentParser
import Foundation

extension Aftersale {
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
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
            let log = try EventLog(database: Database(path: database.path, readOnly: true))
            var options = ReactorOptions()
            options.config = config
            var engine = try options.engine()
            engine.recording = true
            var position: Int64?
            var time: Timestamp?
            if let until {
                if let p = Int64(until) { position = p } else {
                    do { time = try Timestamp.parse(until) } catch { throw CommandFailure("--until \(until) is neither a log position nor an RFC 3339 time") }
                }
            }
            var clock = Timestamp(millis: 0)
            try log.read(limit: position.map { Int($0) } ?? .max, includeMeta: false) { recorded in
                if let time, recorded.event.at > time { return }
                engine.apply(recorded.event)
                if recorded.event.at > clock { clock = recorded.event.at }
            }
            engine.advance(to: time ?? clock)
            var shown = 0
            for record in engine.records {
                guard let command = engine.command(record.commandID), customer == nil || command.customer == customer else { continue }
                shown += 1
                if json {
                    var line = try JSONParser.parse(CommandFormat.json(command)).objectValue ?? JSONObject()
                    line["cause"] = .string(record.cause)
                    line["change"] = .string(record.change)
                    print(JSONValue.object(line).compactText)
                } else {
                    print("\(record.cause) -> \(record.change): \(CommandFormat.line(command))")
                }
            }
            if !json { Terminal.error("\(shown) decisions replayed up to \(position.map { "position \($0)" } ?? (time ?? clock).description); the live outbox was not touched") }
        }
    }
}
