import AftersaleCore
import AftersaleStore
import ArgumentParser
import Foundation

extension Aftersale {
    struct Rejects: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rejects",
            abstract: "Input the service refused, kept with its source, text and reason, to fix and send again.",
            discussion: """
                `aftersale serve` keeps every event it rejects (a missing field, a bad value, a webhook it \
                cannot map) with the text as sent. List them; with --raw, print each one's text alone, one \
                per line, under a # comment with its reason: catalogue envelopes (source api) fixed in \
                that file can be ingested again with `aftersale ingest`. Once re-sent, --remove drops them.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Only this source (api, shopify, segment).")
        var source: String?

        @Option(help: ArgumentHelp("Only rejects numbered after this one.", valueName: "ID"))
        var after: Int64 = 0

        @Option(help: "At most this many.")
        var limit = 1000

        @Flag(help: "One JSON object per line.")
        var json = false

        @Flag(help: "Each reject's text as sent, under a # line with its reason.")
        var raw = false

        @Option(parsing: .upToNextOption, help: ArgumentHelp("Drop these rejects (fixed and sent again).", valueName: "ID"))
        var remove: [Int64] = []

        func run() throws {
            let log = try database.openLog()
            if !remove.isEmpty {
                let removed = try log.removeRejects(remove)
                Terminal.error("removed \(removed) of \(remove.count) rejects")
                return
            }
            let rejects = try log.rejects(source: source, after: after, limit: limit)
            for r in rejects {
                if json {
                    print(r.json.compactText)
                } else if raw {
                    print("# reject \(r.id), \(r.input.source) \(r.input.origin): \(r.input.reason)")
                    print(r.input.raw)
                } else {
                    print("\(r.id)  \(r.received)  \(r.input.source)  \(r.input.origin)  \(r.input.reason)")
                }
            }
            if !json && !raw { Terminal.error("\(rejects.count) rejects") }
        }
    }
}
