import ArgumentParser
import AftersaleCore
import AftersaleIngest
import AftersaleProjections
import AftersaleStore
import Foundation

extension Aftersale {
    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ingest",
            abstract: "Append events from NDJSON (or a transactions CSV) to the log.",
            discussion: """
                Re-sent events (same id, same content) are counted as duplicates and skipped, so a \
                rerun after a crash finishes the job with no duplicates. Rejected lines are reported \
                as FILE:LINE: field: why and written, under that comment, to a rejects file you can fix \
                and ingest again. Exit status 1 when anything was rejected.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Argument(help: ArgumentHelp("Input files; - reads standard input.", valueName: "FILE"))
        var files: [String]

        @Option(help: "ndjson (catalogue events) or transactions (CSV: customer_id,date,amount[,order_id][,currency]).")
        var format: Format = .ndjson

        @Option(help: ArgumentHelp("Write every rejected line here (default: FILE.rejects.EXT beside each input).", valueName: "PATH"))
        var rejects: String?

        @Option(help: ArgumentHelp("Currency of a transactions CSV without a currency column (ISO 4217).", valueName: "CODE"))
        var currency: String?

        @Flag(help: "Print the summary as a JSON object.")
        var json = false

        @Flag(help: "No progress bar.")
        var quiet = false

        @Option(help: ArgumentHelp("Events per transaction at most (a file's first batches are smaller: 1,024, then doubling; so are its last, a quarter of what is left): a crash loses at most the batch in flight, never part of one.", valueName: "N"))
        var batchSize = IngestOptions(now: Timestamp(millis: 0)).batchSize

        @Flag(help: "Append only: leave the read models to catch up at the next command that reads them (or run rebuild).")
        var deferProjections = false

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case ndjson, transactions
        }

        func validate() throws {
            if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
            if let currency, Currency(code: currency) == nil {
                throw ValidationError("--currency \(currency) is not an ISO 4217 currency code")
            }
        }

        func run() throws {
            let log = try database.openLog(creating: true)
            var options = IngestOptions(now: try WallClock.now())
            options.format = format == .ndjson ? .ndjson : .transactions
            options.rejectsPath = rejects
            options.defaultCurrency = currency
            options.batchSize = batchSize
            options.isKnownTimeZone = WallClock.isKnownTimeZone
            let ingester = Ingester(log: log, options: options)
            let showProgress = !quiet && Terminal.stderrIsTerminal
            var shownRejects = 0
            let maxShown = 100
            ingester.onReject = { message in
                shownRejects += 1
                if shownRejects <= maxShown {
                    if showProgress { Terminal.clearProgress() }
                    Terminal.error(message)
                }
            }
            let started = Stopwatch.seconds()
            var lastDraw = 0.0
            if showProgress {
                ingester.onProgress = { p in
                    let now = Stopwatch.seconds()
                    guard now - lastDraw > 0.1 else { return }
                    lastDraw = now
                    let done = p.summary.appended + p.summary.duplicates + p.summary.rejected
                    let rate = Double(done) / max(now - started, 1e-9)
                    let fraction = p.totalBytes.map { $0 > 0 ? Double(p.bytesRead) / Double($0) : 1 }
                    Terminal.progress(fraction: fraction, detail: "\(p.file): \(done) events, \(Int(rate)) events/s")
                }
            }
            let summary: IngestSummary
            do {
                summary = try ingester.ingest(files)
            } catch let error as IngestError {
                if showProgress { Terminal.clearProgress() }
                throw CommandFailure(error.description)
            }
            if showProgress { Terminal.clearProgress() }
            // Read models follow the log: catch them up now so queries are current.
            if !deferProjections { try CustomerProjection(log: log).catchUp(clock: Stopwatch.seconds) }
            if shownRejects > maxShown {
                Terminal.error("... and \(shownRejects - maxShown) more rejected lines")
            }
            if json {
                print(summary.json)
            } else {
                print(summary)
                for path in summary.rejectsFiles {
                    Terminal.error("rejected lines, each under its reason, are in \(path): fix them and ingest that file again")
                }
            }
            if summary.rejected > 0 { throw ExitCode(1) }
        }
    }
}
