import AftersaleProjections
import AftersaleStore
import ArgumentParser

extension Aftersale {
    struct Rebuild: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebuild",
            abstract: "Rebuild read models from position 0, beside the live ones, and swap when caught up."
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: "The projection to rebuild (customers).")
        var projection = CustomerProjection.name

        @Flag(help: "No progress bar.")
        var quiet = false

        func validate() throws {
            guard projection == CustomerProjection.name else {
                throw ValidationError("unknown projection '\(projection)' (known: \(CustomerProjection.name))")
            }
        }

        func run() throws {
            let log = try database.openLog()
            let customers = try CustomerProjection(log: log)
            let showProgress = !quiet && Terminal.stderrIsTerminal
            let stats = try customers.rebuild(clock: Stopwatch.seconds) { done, head in
                if showProgress { Terminal.progress(fraction: head > 0 ? Double(done) / Double(head) : 1, detail: "\(done) of \(head) events") }
            }
            if showProgress { Terminal.clearProgress() }
            let rate = stats.seconds > 0 ? Double(stats.events) / stats.seconds : 0
            print("rebuilt \(projection): \(stats.events) events, \(stats.customers) customers in \(String(format: "%.2f", stats.seconds)) s (\(Int(rate)) events/s)")
        }
    }
}
