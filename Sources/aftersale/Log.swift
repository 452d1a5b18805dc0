import ArgumentParser
import AftersaleCore
import AftersaleStore

extension Aftersale {
    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log",
            abstract: "Show the log: its head position and counts by type, or one customer's stream."
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: ArgumentHelp("Print this customer's stream as NDJSON.", valueName: "ID"))
        var customer: String?

        @Flag(help: "Print the summary as a JSON object.")
        var json = false

        func run() throws {
            let log = try database.openLog()
            if let customer {
                let events = try log.stream(of: customer)
                if events.isEmpty { throw CommandFailure("no events for customer '\(customer)'") }
                for recorded in events { print(PersonalDataVault.reveal(recorded.event, with: log.vault).event.jsonLine) }
                return
            }
            let head = try log.head()
            let counts = try log.countsByType()
            let customers = try log.customerCount()
            if json {
                let byType = JSONObject(counts.map { JSONObject.Member(key: $0.type, value: .integer(Int($0.count))) })
                print(JSONValue.object(JSONObject([
                    "head": .integer(Int(head)), "customers": .integer(Int(customers)), "by_type": .object(byType),
                ])).compactText)
                return
            }
            print("head position \(head), \(customers) customers, database \(database.path)")
            let width = counts.map(\.type.count).max() ?? 0
            for (type, count) in counts {
                print("  " + type.padding(toLength: width, withPad: " ", startingAt: 0) + "  \(count)")
            }
        }
    }
}
