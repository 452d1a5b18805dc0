import AftersaleAnalytics
import ArgumentParser
import Foundation

extension Aftersale {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write one self-contained HTML report (inline SVG charts, no network).",
            discussion: """
                Cohort retention, customer value distribution, lifecycle stages over time, calibration of \
                the latest model (predicted against actual purchases after its calibration end), actions \
                by kind and status, review ratings and reply times.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: ArgumentHelp("Where to write the report.", valueName: "FILE"))
        var out = "report.html"

        @Option(help: "The shop's name in the title.")
        var shop = "Your shop"

        func run() throws {
            let log = try database.openLog()
            let analytics = try ShopAnalytics(log: log, now: try WallClock.now())
            let html = ReportRenderer.render(try analytics.reportData(shopName: shop))
            do {
                try writeOutput(html, to: out)
            } catch {
                throw CommandFailure("cannot write \(out): \(error.localizedDescription)")
            }
            print("wrote \(out) (\(html.utf8.count / 1024) KiB)")
        }
    }
}
