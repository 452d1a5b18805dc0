import AftersaleCore
import ArgumentParser
import Foundation
import ShopSimulator

extension Aftersale {
    struct Simulate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "simulate",
            abstract: "Write a simulated shop's events as NDJSON, from known buy-till-you-die parameters.",
            discussion: """
                Purchases follow BG/NBD (rates per day) and spend Gamma-Gamma; deliveries, unboxings, \
                returns, reviews and replies follow realistic rates and delays. The same options and seed \
                give the same bytes. --truth writes each customer's true rate, dropout probability and \
                spend as NDJSON, to check what a fit recovers.
                """
        )

        @Option(help: "Customers acquired.") var customers = 10_000
        @Option(help: "Length of the period in days.") var days = 730
        @Option(help: ArgumentHelp("First day of the period.", valueName: "YYYY-MM-DD")) var start = "2024-01-01"
        @Option(help: "Random seed.") var seed: UInt64 = 42
        @Option(help: "Stop after this many events.") var events: Int?
        @Option(help: "BG/NBD r.") var r: Double?
        @Option(help: "BG/NBD alpha, per day.") var alpha: Double?
        @Option(help: "BG/NBD a.") var a: Double?
        @Option(help: "BG/NBD b.") var b: Double?
        @Flag(help: "Only customer.registered and order.placed, no cancellations (for parameter recovery).") var purchasesOnly = false
        @Option(help: ArgumentHelp("Where to write the events; - is standard output.", valueName: "FILE")) var out = "-"
        @Option(help: ArgumentHelp("Also write the true per-customer parameters here.", valueName: "FILE")) var truth: String?

        func validate() throws {
            guard CivilDate.parse(start) != nil else { throw ValidationError("--start \(start) is not a YYYY-MM-DD date") }
            guard customers > 0, days > 0 else { throw ValidationError("--customers and --days must be positive") }
        }

        var simulationConfiguration: SimulationConfiguration {
            var c = purchasesOnly ? SimulationConfiguration.purchasesOnly(seed: seed, customers: customers)
                : SimulationConfiguration(seed: seed, customers: customers)
            c.days = days
            c.start = CivilDate.parse(start)!.daysSinceEpoch * 86_400
            c.maxEvents = events
            if let r { c.purchases.r = r }
            if let alpha { c.purchases.alpha = alpha }
            if let a { c.purchases.a = a }
            if let b { c.purchases.b = b }
            return c
        }

        func run() throws {
            let configuration = simulationConfiguration
            let problems = configuration.problems
            guard problems.isEmpty else { throw CommandFailure(problems.joined(separator: "; ")) }
            let simulation = ShopSimulation(configuration)
            let handle: FileHandle
            if out == "-" {
                handle = FileHandle.standardOutput
            } else {
                guard FileManager.default.createFile(atPath: out, contents: nil), let h = FileHandle(forWritingAtPath: out) else {
                    throw CommandFailure("cannot write \(out)")
                }
                handle = h
            }
            let count = try simulation.writeNDJSON { chunk in try handle.write(contentsOf: Data(chunk)) }
            if out != "-" { try handle.close() }
            if let truth {
                var text = ""
                for t in simulation.truths() {
                    text += JSONValue.object(JSONObject([
                        "customer": .string(t.id), "lambda_per_day": .double(t.lambda), "p": .double(t.p), "nu": .double(t.nu),
                        "purchases": .integer(t.purchases), "alive_at_end": .bool(t.isAliveAtEnd),
                    ])).compactText + "\n"
                }
                try writeOutput(text, to: truth)
            }
            if out != "-" { Terminal.error("wrote \(count) events for \(customers) customers to \(out)") }
        }
    }
}
