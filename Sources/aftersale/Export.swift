import AftersaleAnalytics
import AftersaleCore
import AftersaleDelivery
import AftersaleStore
public import ArgumentParser
import CustomerValue
import Foundation

extension Aftersale {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Stream a table for analysis: customers, orders, reviews, returns, actions, cohorts, products, calibration.",
            discussion: """
                Stable snake_case columns (documented in Sources/AftersaleAnalytics/EXPORTS.md), ISO dates, \
                exact money as decimal strings beside a currency column. CSV follows RFC 4180. \
                --as-of judges stages and predictions at the end of that day; for calibration it is the \
                split between the calibration period and the holdout.
                """
        )

        enum Kind: String, ExpressibleByArgument, CaseIterable {
            case customers, orders, reviews, returns, actions, cohorts, products, calibration
        }

        @OptionGroup var database: DatabaseOptions

        @Argument(help: ArgumentHelp("What to export.", valueName: Kind.allCases.map(\.rawValue).joined(separator: "|")))
        var kind: Kind

        @Option(help: "csv or jsonl.")
        var format: ExportFormat = .csv

        @Option(help: ArgumentHelp("Write here instead of standard output.", valueName: "FILE"))
        var out: String?

        @Option(name: .customLong("as-of"), help: ArgumentHelp("Judge at the end of this day (default: now).", valueName: "YYYY-MM-DD"))
        var asOf: String?

        func validate() throws {
            if let asOf, CivilDate.parse(asOf) == nil { throw ValidationError("--as-of \(asOf) is not a YYYY-MM-DD date") }
        }

        func run() throws {
            let log = try database.openLog()
            let asOfDate = asOf.flatMap(CivilDate.parse)
            let now = try asOfDate.map { Timestamp(millis: ($0.daysSinceEpoch + 1) * Timestamp.millisPerDay - 1) } ?? WallClock.now()
            let analytics = try ShopAnalytics(log: log, now: now)
            let sink = try OutputSink(path: out)
            defer { sink.close() }
            switch kind {
            case .customers: try stream(CustomerRow.self, sink) { write in try analytics.customerRows(write) }
            case .orders: try stream(OrderRow.self, sink) { write in try analytics.orderRows(write) }
            case .reviews: try stream(ReviewRow.self, sink) { write in try analytics.reviewRows().forEach(write) }
            case .returns: try stream(ReturnRow.self, sink) { write in try analytics.returnRows().forEach(write) }
            case .actions:
                // A delivery still being retried has its tries so far in the queue, not yet in the log.
                // (A database that never delivered and cannot be written has no queue to make: none.)
                let retrying = (try? DeliveryQueue(log: log).attemptsOfQueued()) ?? [:]
                try stream(ActionRow.self, sink) { write in
                    for var row in try analytics.actionRows() {
                        if row.deliveryHistory == nil, let tries = retrying[row.action] { row.deliveryHistory = tries.map(\.json) }
                        try write(row)
                    }
                }
            case .cohorts: try stream(CohortRow.self, sink) { write in try analytics.cohortRows().forEach(write) }
            case .products:
                try stream(ProductRow.self, sink) { write in try analytics.productRows(reviews: analytics.reviewRows()).forEach(write) }
            case .calibration:
                let result: (model: FittedModel, holdoutDays: Int, rows: [CalibrationRow])?
                do { result = try analytics.calibration(asOf: asOfDate) } catch let error as ValueModelError {
                    throw CommandFailure(error.description)
                }
                guard let result else {
                    throw CommandFailure("no calibration split: pass --as-of YYYY-MM-DD before the last event, or fit a model first")
                }
                Terminal.error("calibration: \(result.model.kind.displayName) through \(result.model.calibrationEnd), holdout \(result.holdoutDays) days")
                try stream(CalibrationRow.self, sink) { write in for row in result.rows { try write(row) } }
            }
        }

        func stream<Row: ExportRow>(_ type: Row.Type, _ sink: OutputSink, _ produce: (_ write: (Row) throws -> Void) throws -> Void) throws {
            var writer = ExportWriter<Row>(format: format, sink: sink.write)
            try produce { try writer.write($0) }
            try writer.finish()
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}

/// Standard output or a file, written in chunks.
final class OutputSink {
    let handle: FileHandle
    let ownsHandle: Bool

    init(path: String?) throws {
        guard let path, path != "-" else {
            handle = .standardOutput
            ownsHandle = false
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw CommandFailure("cannot write \(path)")
        }
        handle = h
        ownsHandle = true
    }

    func write(_ bytes: [UInt8]) throws { try handle.write(contentsOf: Data(bytes)) }

    func close() { if ownsHandle { try? handle.close() } }
}
