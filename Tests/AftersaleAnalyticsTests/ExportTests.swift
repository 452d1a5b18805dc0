import AftersaleCore
import Foundation
import Testing
@testable import AftersaleAnalytics

/// The column names documented for one export kind in EXPORTS.md, in order.
func documentedColumns(_ kind: String) throws -> [String] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/AftersaleAnalytics/EXPORTS.md").standardized
    let text = try String(contentsOf: url, encoding: .utf8)
    var columns: [String] = []
    var inSection = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("## ") {
            inSection = line == "## `\(kind)`"
            continue
        }
        guard inSection, line.hasPrefix("| `") else { continue }
        let cell = line.dropFirst(3).prefix { $0 != "`" }
        columns.append(String(cell))
    }
    return columns
}

/// A sample row of every kind, with awkward text wherever a column takes text.
enum Samples {
    static let asOf = CustomerBuilder.at("2025-06-30T00:00:00Z")

    static var customerState: CustomerState {
        let b = CustomerBuilder("c-1001, \"Anna\"")
        b.register("2025-01-05", consent: ["email": true, "sms": false])
        b.order("o-1", "2025-02-03T18:45:10Z", total: "59.80", lines: [("TEA-SENCHA-100", 2, "14.90"), ("MUG-STONE-01", 1, "30.00")])
        b.order("o-2", "2025-04-10", total: "20.00", lines: [("TEA-SENCHA-100", 1, "20.00")])
        b.order("o-3", "2025-05-01", total: "4800", currency: "JPY", lines: [("TEA-GYOKURO", 1, "4800")])
        b.requestReturn("ret-1", order: "o-2", "2025-04-20")
        b.refund("ret-1", order: "o-2", "2025-04-22", amount: "20.00")
        b.review("r-1", sku: "MUG-STONE-01", rating: 2, "2025-02-10")
        return b.state
    }

    static var customer: CustomerRow {
        CustomerRow(state: customerState, stage: .repeat, asOf: asOf,
                    prediction: CustomerPrediction(pAlive: 0.876_54, predictedValue12Months: Money(minorUnits: 12_345, currency: Currency(code: "EUR")!),
                                                   expectedPurchases365Days: 1.5, repeatPurchaseProbability90Days: 0.4,
                                                   expectedNextOrderAt: CustomerBuilder.at("2025-08-01")),
                    rfm: RFMScore(recency: 4, frequency: 5, monetary: 3, segment: .loyal))
    }

    static var order: OrderRow {
        OrderRow(customer: customerState.customer, order: customerState.orders["o-1"]!)
    }

    static let review = ReviewRow(review: "r-1", customer: "c-1001", sku: "MUG-STONE-01", order: "o-1", rating: 2,
                                  postedAt: CustomerBuilder.at("2025-02-10T08:00:00Z"), repliedAt: CustomerBuilder.at("2025-02-10T14:30:00Z"),
                                  replyBy: "Support, Team", text: "Chipped on arrival,\n\"not happy\" <script>alert(1)</script>",
                                  replyText: "  Sorry!  ")

    static let returnRow = ReturnRow(returnID: "ret-1", order: "o-2", customer: "c-1001", requestedAt: CustomerBuilder.at("2025-04-20"),
                                     reason: "too big, \"really\"", lines: [.init(sku: "TEA-SENCHA-100", quantity: 1)],
                                     refundedAt: CustomerBuilder.at("2025-04-22"), refund: Money(minorUnits: 2000, currency: Currency(code: "EUR")!))

    static let action = ActionRow(action: "a-1", customer: "c-1001", kind: "win_back", channel: "email", status: "suppressed",
                                  statusReason: "no consent, quiet hours", reason: "P(alive) 0.31 < 0.4, predicted CLV 412.00 EUR",
                                  trigger: "clock", due: CustomerBuilder.at("2025-06-02T09:00:00Z"),
                                  payload: JSONObject(["voucher": .string("WB-10"), "percent": .integer(10), "note": .string("line\nbreak")]))

    static let cohort = CohortRow(cohort: Month(year: 2025, month: 2), monthOffset: 2, cohortSize: 3, activeCustomers: 1)

    static let product = ProductRow(sku: "MUG-STONE-01", name: "Mug, stone \"grey\"", category: nil, currency: "EUR", unitsSold: 3,
                                    orders: 2, revenue: 9000, returnedOrders: 1, reviews: 3, ratingSum: 10, unansweredReviews: 1)

    static let calibration = CalibrationRow(frequency: 7, isTail: true, customers: 3, totalPredicted: 10, totalActual: 9)
}

/// Checks one export kind: header vs EXPORTS.md, CSV round-trip, JSON Lines keys.
func checkExport<Row: ExportRow>(_ row: Row) throws {
    let documented = try documentedColumns(Row.exportName)
    #expect(Row.columns == documented, "\(Row.exportName): header differs from EXPORTS.md")
    #expect(Set(Row.columns).count == Row.columns.count)
    #expect(Row.columns.allSatisfy { $0.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" } })

    let csv = Row.render([row, row], format: .csv)
    let records = try CSVReader.parse(bytes: csv)
    #expect(records.count == 3)
    #expect(records[0] == Row.columns)
    #expect(records[1] == row.csvFields)
    #expect(records[2] == row.csvFields)

    let jsonl = String(decoding: Row.render([row], format: .jsonl), as: UTF8.self)
    #expect(jsonl.hasSuffix("\n"))
    #expect(jsonl.filter { $0 == "\n" }.count == 1)
    let object = try JSONParser.parse(jsonl).objectValue
    #expect(object?.keys == Row.columns)
    #expect(object == row.jsonObject)
}

@Suite("Export kinds")
struct ExportTests {
    @Test("customers") func customers() throws { try checkExport(Samples.customer) }
    @Test("orders") func orders() throws { try checkExport(Samples.order) }
    @Test("reviews") func reviews() throws { try checkExport(Samples.review) }
    @Test("returns") func returns() throws { try checkExport(Samples.returnRow) }
    @Test("actions") func actions() throws { try checkExport(Samples.action) }
    @Test("cohorts") func cohorts() throws { try checkExport(Samples.cohort) }
    @Test("products") func products() throws { try checkExport(Samples.product) }
    @Test("calibration") func calibration() throws { try checkExport(Samples.calibration) }

    @Test("every documented kind has a row type")
    func kindsDocumented() throws {
        let names = [CustomerRow.exportName, OrderRow.exportName, ReviewRow.exportName, ReturnRow.exportName,
                     ActionRow.exportName, CohortRow.exportName, ProductRow.exportName, CalibrationRow.exportName]
        #expect(names == ["customers", "orders", "reviews", "returns", "actions", "cohorts", "products", "calibration"])
        for name in names { #expect(try !documentedColumns(name).isEmpty, "\(name) is not documented") }
    }

    @Test("customer values: exact money in the primary currency, fixed-precision probabilities")
    func customerValues() throws {
        let row = Samples.customer
        func value(_ column: String) -> String? { row.csvFields[CustomerRow.columns.firstIndex(of: column)!] }
        #expect(value("customer_id") == "c-1001, \"Anna\"")
        #expect(value("stage") == "repeat")
        #expect(value("registered_at") == "2025-01-05T12:00:00Z")
        #expect(value("first_order_date") == "2025-02-03")
        #expect(value("last_order_date") == "2025-05-01")
        #expect(value("recency_days") == "60")
        #expect(value("order_count") == "3")
        #expect(value("item_count") == "5")
        #expect(value("currency") == "EUR")
        #expect(value("average_order_value") == "39.90")
        #expect(value("historical_clv") == "59.80")
        #expect(value("refunded_value") == "20.00")
        #expect(value("predicted_clv_12m") == "123.45")
        #expect(value("total_clv") == "183.25")
        #expect(value("p_alive") == "0.8765")
        #expect(value("repeat_purchase_probability_90d") == "0.4000")
        #expect(value("expected_purchases_365d") == "1.5000")
        #expect(value("expected_next_order_date") == "2025-08-01")
        #expect(value("rfm_segment") == "loyal")
        #expect(value("other_currencies") == "JPY")
        #expect(value("returns_requested") == "1")
        #expect(value("unanswered_negative_reviews") == "1")
        #expect(value("email_consent") == "true")
        #expect(value("sms_consent") == "false")
        #expect(value("push_consent") == "false")

        // JSON Lines keeps money a string and probabilities numbers.
        let object = row.jsonObject
        #expect(object["historical_clv"] == .string("59.80"))
        #expect(object["p_alive"] == .number("0.8765"))
        #expect(object["order_count"] == .number("3"))
        #expect(object["email_consent"] == .bool(true))
    }

    @Test("without a model the prediction columns are empty; a prospect has no order columns")
    func customerWithoutModel() {
        let b = CustomerBuilder("c-2")
        b.register("2025-01-01")
        let row = CustomerRow(state: b.state, stage: .prospect, asOf: Samples.asOf)
        let fields = Dictionary(uniqueKeysWithValues: zip(CustomerRow.columns, row.csvFields))
        for column in ["predicted_clv_12m", "total_clv", "p_alive", "repeat_purchase_probability_90d", "expected_purchases_365d",
                       "expected_next_order_date", "rfm_recency", "rfm_segment", "first_order_date", "recency_days",
                       "historical_clv", "currency", "average_order_value"] {
            #expect(fields[column]! == nil, "\(column) should be empty")
        }
        #expect(fields["order_count"]! == "0")
        #expect(fields["stage"]! == "prospect")
    }

    @Test("a predicted value in another currency is left out rather than mislabelled")
    func predictionCurrencyMismatch() {
        let row = CustomerRow(state: Samples.customerState, stage: .repeat, asOf: Samples.asOf,
                              prediction: CustomerPrediction(predictedValue12Months: Money(minorUnits: 500, currency: Currency(code: "USD")!)))
        let fields = Dictionary(uniqueKeysWithValues: zip(CustomerRow.columns, row.csvFields))
        #expect(fields["predicted_clv_12m"]! == nil)
        #expect(fields["total_clv"]! == nil)
    }

    @Test("orders: status, exact totals, lines as JSON")
    func orderValues() throws {
        let row = Samples.order
        let fields = Dictionary(uniqueKeysWithValues: zip(OrderRow.columns, row.csvFields))
        #expect(fields["status"]! == "placed")
        #expect(fields["total"]! == "59.80")
        #expect(fields["placed_at"]! == "2025-02-03T18:45:10Z")
        #expect(fields["item_count"]! == "3")
        let lines = try JSONParser.parse(fields["lines"]!!)
        #expect(lines.arrayValue?.count == 2)
        #expect(lines.arrayValue?.first?["price"] == .string("14.90"))
        #expect(OrderRow.status(of: Samples.customerState.orders["o-2"]!) == "refunded")
    }

    @Test("fixed-point formatting rounds half away from zero and refuses non-finite values")
    func fixedPoint() {
        #expect(ExportValue.fixed(0.123_45, digits: 4) == .decimal("0.1235"))
        #expect(ExportValue.fixed(-0.000_04, digits: 4) == .decimal("0.0000"))
        #expect(ExportValue.fixed(-1.5, digits: 0) == .decimal("-2"))
        #expect(ExportValue.fixed(2.5, digits: 1) == .decimal("2.5"))
        #expect(ExportValue.fixed(.nan, digits: 4) == .missing)
        #expect(ExportValue.fixed(.infinity, digits: 4) == .missing)
        #expect(ExportValue.fixed(nil, digits: 4) == .missing)
    }

    @Test("the export writer streams in chunks and writes the header even with no rows")
    func writerStreams() throws {
        var chunks: [[UInt8]] = []
        var writer = ExportWriter<CohortRow>(format: .csv, chunkSize: 64) { chunks.append($0) }
        try writer.finish()
        #expect(String(decoding: chunks.flatMap { $0 }, as: UTF8.self) == CSV.record(CohortRow.columns))
        chunks = []
        writer = ExportWriter<CohortRow>(format: .jsonl, chunkSize: 64) { chunks.append($0) }
        for k in 0..<50 { try writer.write(CohortRow(cohort: Month(year: 2025, month: 1), monthOffset: k, cohortSize: 10, activeCustomers: k % 10)) }
        try writer.finish()
        #expect(chunks.count > 10)
        #expect(writer.rowCount == 50)
        let lines = String(decoding: chunks.flatMap { $0 }, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 50)
        #expect(lines[49] == #"{"cohort":"2025-01","month_offset":49,"month":"2029-02","cohort_size":10,"active_customers":9,"retention":0.9000}"#)
    }
}
