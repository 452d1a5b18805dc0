import AftersaleAnalytics
import CSV
import Foundation
import Testing

/// Reads CSV with an independent RFC 4180 parser (yaslab/CSV.swift), not the project's own.
func readCSV(_ text: String) throws -> (header: [String], rows: [[String]]) {
    let reader = try CSVReader(string: text, hasHeaderRow: true)
    var rows: [[String]] = []
    while let row = reader.next() { rows.append(row) }
    return (reader.headerRow ?? [], rows)
}

let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// A small simulated shop that has been fitted, run through the reactor and dispatched once.
func preparedShop(_ cli: CLI) throws -> String {
    let now = "2024-08-01T12:00:00Z"
    try cli.run(["simulate", "--customers", "600", "--days", "214", "--seed", "11", "--out", cli.path("shop.ndjson")])
    try cli.run(["ingest", "--quiet", cli.path("shop.ndjson")])
    let fit = try cli.run(["fit", "--min-repeat-buyers", "50"])
    #expect(fit.status == 0, "\(fit.stderr)")
    // A model fitted on the first five months: the calibration export checks it on the rest.
    let split = try cli.run(["fit", "--as-of", "2024-05-31", "--min-repeat-buyers", "50"])
    #expect(split.status == 0, "\(split.stderr)")
    try cli.run(["dispatch", "--now", now, "--out", cli.path("sent.ndjson")])
    return now
}

@Suite("export, report and demo, end to end", .serialized)
struct AnalyticsCommandTests {
    @Test("every export kind reads back with a real CSV parser and a JSON parser, with its documented columns")
    func everyExportKind() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let now = try preparedShop(cli)
        let columns: [String: [String]] = [
            "customers": CustomerRow.columns, "orders": OrderRow.columns, "reviews": ReviewRow.columns, "returns": ReturnRow.columns,
            "actions": ActionRow.columns, "cohorts": CohortRow.columns, "products": ProductRow.columns, "calibration": CalibrationRow.columns,
        ]
        for (kind, expected) in columns.sorted(by: { $0.key < $1.key }) {
            var args = ["export", kind, "--out", cli.path("\(kind).csv")]
            args += kind == "calibration" ? ["--as-of", "2024-05-31"] : ["--as-of", String(now.prefix(10))]
            let csvRun = try cli.run(args)
            #expect(csvRun.status == 0, "\(kind): \(csvRun.stderr)")
            let csv = try readCSV(try String(contentsOfFile: cli.path("\(kind).csv"), encoding: .utf8))
            #expect(csv.header == expected, "\(kind) header")
            #expect(!csv.rows.isEmpty, "\(kind) has rows")
            #expect(csv.rows.allSatisfy { $0.count == expected.count }, "\(kind): every row has every column")

            let jsonl = try cli.run(args.map { $0 == cli.path("\(kind).csv") ? cli.path("\(kind).jsonl") : $0 } + ["--format", "jsonl"])
            #expect(jsonl.status == 0, "\(kind): \(jsonl.stderr)")
            let lines = try String(contentsOfFile: cli.path("\(kind).jsonl"), encoding: .utf8).split(separator: "\n")
            #expect(lines.count == csv.rows.count, "\(kind): the same rows in both formats")
            for line in lines.prefix(50) {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(Set(object.keys) == Set(expected), "\(kind) keys")
            }
        }
        // Spot checks of content: money as exact decimals, one row per customer and per order.
        let customers = try readCSV(try String(contentsOfFile: cli.path("customers.csv"), encoding: .utf8))
        #expect(customers.rows.count == 600)
        let value = try #require(customers.header.firstIndex(of: "historical_clv"))
        #expect(customers.rows.allSatisfy { $0[value].isEmpty || $0[value].range(of: #"^-?\d+\.\d{2}$"#, options: .regularExpression) != nil })
        let placed = try String(contentsOfFile: cli.path("shop.ndjson"), encoding: .utf8).components(separatedBy: "\"type\":\"order.placed\"").count - 1
        #expect(try readCSV(try String(contentsOfFile: cli.path("orders.csv"), encoding: .utf8)).rows.count == placed)
        let actions = try readCSV(try String(contentsOfFile: cli.path("actions.csv"), encoding: .utf8))
        let status = try #require(actions.header.firstIndex(of: "status"))
        #expect(Set(actions.rows.map { $0[status] }).isSuperset(of: ["dispatched", "cancelled"]))
    }

    @Test("awkward review text survives ingest and CSV export unchanged")
    func awkwardText() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let awkward = "Fits \"true to size\", but:\nline two, with a comma; ünïcödé ✓ and a trailing space "
        let event = #"{"id":"rv","type":"review.posted","customer":"c","at":"2025-03-09T10:00:00Z","data":{"review":"r-1","sku":"S,1","rating":4,"text":\#(JSONValueQuoted(awkward))}}"#
        try cli.run(["ingest", cli.write("r.ndjson", event + "\n")])
        try cli.run(["export", "reviews", "--out", cli.path("reviews.csv")])
        let csv = try readCSV(try String(contentsOfFile: cli.path("reviews.csv"), encoding: .utf8))
        let text = try #require(csv.header.firstIndex(of: "text")), sku = try #require(csv.header.firstIndex(of: "sku"))
        #expect(csv.rows.first?[text] == awkward)
        #expect(csv.rows.first?[sku] == "S,1")
    }

    @Test("the report is one self-contained HTML file with inline SVG charts")
    func report() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        _ = try preparedShop(cli)
        let result = try cli.run(["report", "--out", cli.path("report.html"), "--shop", "Test <shop>"])
        #expect(result.status == 0, "\(result.stderr)")
        let html = try String(contentsOfFile: cli.path("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") || html.hasPrefix("<!doctype html>"))
        #expect(html.components(separatedBy: "<svg").count - 1 >= 5)
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        #expect(html.contains("Test &lt;shop&gt;"))
        for section in ["Cohort retention", "Lifecycle stages", "predicted vs actual", "Actions by kind", "Reviews"] {
            #expect(html.contains(section), "\(section)")
        }
    }

    @Test("the report renders in a real headless browser", .enabled(if: chromium != nil, "needs Chromium (apt-get install chromium); .ci/run installs it"))
    func reportInBrowser() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        _ = try preparedShop(cli)
        try cli.run(["report", "--out", cli.path("report.html")])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium!)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2400",
                             "--screenshot=\(cli.path("report.png"))", "file://\(cli.path("report.html"))"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let png = try Data(contentsOf: URL(fileURLWithPath: cli.path("report.png")))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        // A blank page compresses to a few KB; the charts make it far larger.
        #expect(png.count > 60_000, "\(png.count) bytes")
        // Width and height from the IHDR chunk.
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1280)
    }

    @Test("the demo simulates a shop, runs everything, writes the report and prints the summary")
    func demo() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let demo = try cli.run(["demo", "--customers", "800"])
        #expect(demo.status == 0, "\(demo.stderr)")
        for part in ["Demo shop: 800 customers", "Customers by stage", "Top customers by predicted 12-month value", "Actions due by", "Report: "] {
            #expect(demo.stdout.contains(part), "\(part) in \(demo.stdout)")
        }
        let report = try String(contentsOfFile: cli.path("report.html"), encoding: .utf8)
        // The demo's model saw everything; the report checks one fitted on the earlier part.
        #expect(!report.contains("No model fitted yet") && report.contains("holdout"), "the model check is in the report")
        #expect(FileManager.default.fileExists(atPath: cli.path("aftersale.db")))
        let again = try cli.run(["demo", "--customers", "800"])
        #expect(again.stdout.contains("appended 0, duplicates"), "a second demo appends nothing")
    }
}

/// `s` as a JSON string literal.
func JSONValueQuoted(_ s: String) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes]), as: UTF8.self).dropFirst().dropLast().description
}
