import AftersaleAnalytics
import AftersaleCore
import AftersaleIngest
import AftersaleReactor
import AftersaleProjections
import AftersaleOutbox
import AftersaleStore
import ArgumentParser
import CustomerValue
import Foundation
import ShopSimulator

extension Aftersale {
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "demo",
            abstract: "Simulate a believable shop, run the whole engine on it, and write the report.",
            discussion: """
                Simulates customers over two years (purchases, deliveries, unboxings, returns, reviews \
                and replies), ingests them into the database, fits the customer-value models, runs the \
                projections and the reactor up to the end of the simulated period, writes the HTML \
                report and prints a summary. Running it again appends nothing: every event is a duplicate.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Customers to simulate.")
        var customers = 10_000

        @Option(help: "Random seed of the simulated shop.")
        var seed: UInt64 = 42

        @Option(help: ArgumentHelp("Where to write the report.", valueName: "FILE"))
        var out = "report.html"

        func run() throws {
            let started = Stopwatch.seconds()
            var steps: [(String, Double)] = []
            func step(_ name: String, _ since: inout Double) {
                let now = Stopwatch.seconds()
                steps.append((name, now - since))
                since = now
            }
            var mark = started

            // 1. A simulated shop, written to a scratch file.
            var simulation = SimulationConfiguration.demo(seed: seed)
            simulation.customers = customers
            let shop = ShopSimulation(simulation)
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-demo-\(seed)-\(customers).ndjson").path
            guard FileManager.default.createFile(atPath: scratch, contents: nil), let handle = FileHandle(forWritingAtPath: scratch) else {
                throw CommandFailure("cannot write \(scratch)")
            }
            let events = try shop.writeNDJSON { try handle.write(contentsOf: Data($0)) }
            try handle.close()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let end = Timestamp(millis: (simulation.start + Int64(simulation.days) * 86_400) * 1000)
            // The demo's present: noon on the last simulated day.
            let now = end.adding(millis: -12 * 3_600_000)
            step("simulate \(events) events", &mark)

            // 2. Ingest, with the projections caught up.
            let log = try database.openLog(creating: true)
            var options = IngestOptions(now: max(try WallClock.now(), end))
            options.isKnownTimeZone = WallClock.isKnownTimeZone
            options.rejectsPath = FileManager.default.temporaryDirectory.appendingPathComponent("aftersale-demo.rejects.ndjson").path
            let ingest = try Ingester(log: log, options: options).ingest([scratch])
            let customersProjection = try CustomerProjection(log: log)
            try customersProjection.catchUp()
            step("ingest (\(ingest))", &mark)

            // 3. Fit the customer-value models on everything up to the present.
            let states = try customersProjection.allStates()
            var fitted: FittedModel?
            do {
                fitted = try LifetimeValue.fit(states, kind: .bgnbd, asOf: CivilDate(daysSinceEpoch: now.utcDay), unit: .week)
                _ = try log.append([EncodedEvent(fitted!.event())], recorded: options.now)
            } catch let error as ValueModelError {
                print("Model: \(error) (try more --customers)")
            }
            step("fit BG/NBD + Gamma-Gamma", &mark)

            // 4. The reactor, up to the present.
            let reactor = try ReactorStore(log: log)
            let engine = ReactorEngine.withFittedModels(configuration: ReactorConfiguration())
            try reactor.run(until: now, engine: engine)
            step("reactor", &mark)

            // 5. The report.
            let analytics = try ShopAnalytics(log: log, now: now)
            let html = ReportRenderer.render(try analytics.reportData(shopName: "Demo shop (simulated)"))
            try writeOutput(html, to: out)
            step("report", &mark)

            let top = try printSummary(states: states, model: fitted, reactor: reactor, now: now, ingest: ingest)
            print("")
            print("Report: \(URL(fileURLWithPath: out).standardizedFileURL.path)  (open it in a browser)")
            print("Database: \(database.path) — try `aftersale customer \(top ?? states.first?.customer ?? "ID") --now \(now)` or `aftersale actions --now \(now)`")
            print(String(format: "Done in %.1f s: ", Stopwatch.seconds() - started)
                + steps.map { String(format: "%@ %.1f s", $0.0, $0.1) }.joined(separator: "; "))
        }

        /// Prints the summary; returns the customer with the highest predicted value, if any.
        func printSummary(states: [CustomerState], model: FittedModel?, reactor: ReactorStore, now: Timestamp, ingest: IngestSummary) throws -> String? {
            print("Demo shop: \(states.count) customers, \(ingest.appended + ingest.duplicates) events, as of \(now.dateString)")
            if let model { print(String(format: "Model: %@ r %.3f alpha %.3f a %.3f b %.3f (per week), Gamma-Gamma p %.2f q %.2f gamma %.2f",
                         model.kind.displayName, model.parameters["r"] ?? 0, model.parameters["alpha"] ?? 0, model.parameters["a"] ?? 0,
                         model.parameters["b"] ?? 0, model.spend?.p ?? 0, model.spend?.q ?? 0, model.spend?.gamma ?? 0)) }

            var stages: [LifecycleStage: Int] = [:]
            for state in states { stages[LifecycleStage.classify(state, at: now), default: 0] += 1 }
            print("\nCustomers by stage")
            for stage in LifecycleStage.allCases { print("  " + stage.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + String(stages[stage] ?? 0)) }

            let predicted = states.compactMap { s in model.flatMap { LifetimeValue.predict(s, with: $0, now: now) }.map { (s, $0) } }
                .filter { $0.1.predictedValue12Months != nil }
                .sorted { ($0.1.predictedValue12Months!.minorUnits, $1.0.customer) > ($1.1.predictedValue12Months!.minorUnits, $0.0.customer) }
            print("\nTop customers by predicted 12-month value" + (model == nil ? ": no model fitted" : ""))
            for (state, p) in predicted.prefix(5) {
                let net = state.historicalValue
                print("  \(state.customer)  \(p.predictedValue12Months!)  (P(alive) \(String(format: "%.2f", p.probabilityAlive)), \(state.orderCount) orders, net so far \(net?.description ?? "-"))")
            }

            let window = now.adding(days: -7)
            let due = try reactor.commands(pendingDueBy: now, dueFrom: window)
            var byKind: [String: Int] = [:]
            for command in due { byKind[command.kind.rawValue, default: 0] += 1 }
            print("\nActions due by \(now) (\(due.count), from the last 7 days)")
            for (kind, count) in byKind.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
                print("  " + kind.padding(toLength: 26, withPad: " ", startingAt: 0) + String(count))
            }
            return predicted.first?.0.customer
        }
    }
}
