import AftersaleCore
import Foundation
import Testing
@testable import AftersaleAnalytics

/// A deterministic sample shop: a few hundred customers over 18 months, fed through the real fold.
enum SampleShop {
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        mutating func unit() -> Double { Double(next() % 1_000_000) / 1_000_000 }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    }

    static let start = CivilDate(year: 2024, month: 1, day: 1).daysSinceEpoch
    static let end = CivilDate(year: 2025, month: 6, day: 30).daysSinceEpoch
    static let asOf = Timestamp(millis: (end + 1) * Timestamp.millisPerDay)

    static func day(_ d: Int64, hour: Int = 12) -> String {
        CivilDate(daysSinceEpoch: d).description + "T" + (hour < 10 ? "0" : "") + "\(hour):00:00Z"
    }

    static func build() -> ReportData {
        var rng = Generator(state: 42)
        let skus = ["TEA-SENCHA-100", "TEA-GYOKURO-50", "MUG-STONE-01", "KETTLE-CAST-08", "FILTER-PAPER-100"]
        let prices = ["14.90", "22.50", "30.00", "89.50", "4.90"]
        var states: [CustomerState] = []
        var reviews: [ReviewRow] = []
        var actions: [ActionRow] = []
        for i in 0..<420 {
            let id = "c-\(1000 + i)"
            let b = CustomerBuilder(id)
            let joined = start + Int64(rng.int(0...Int(end - start - 20)))
            b.register(day(joined, hour: 9), consent: ["email": rng.unit() < 0.7])
            if rng.unit() < 0.12 { states.append(b.state); continue }  // prospects
            let rate = 0.004 + 0.03 * rng.unit() * rng.unit()
            var d = joined + Int64(rng.int(0...10))
            var n = 0
            while d <= end {
                let k = rng.int(0...4)
                let qty = rng.int(1...3)
                let price = prices[k]
                let cents = Int64(price.replacingOccurrences(of: ".", with: ""))! * Int64(qty)
                let total = Money.decimalString(minorUnits: cents + 490, digits: 2)
                b.order("\(id)-o\(n)", day(d, hour: 8 + rng.int(0...12)), total: total, lines: [(skus[k], qty, price)],
                        names: [skus[k]: ["Sencha 100 g", "Gyokuro 50 g", "Stoneware mug", "Cast-iron kettle", "Filter papers"][k]])
                if rng.unit() < 0.06 {
                    b.requestReturn("\(id)-r\(n)", order: "\(id)-o\(n)", day(d + 6))
                    if rng.unit() < 0.8 { b.refund("\(id)-r\(n)", order: "\(id)-o\(n)", day(d + 12), amount: price) }
                }
                if rng.unit() < 0.25 {
                    let rating = [5, 5, 5, 4, 4, 4, 3, 2, 1][rng.int(0...8)]
                    let posted = Timestamp(millis: (d + 8) * Timestamp.millisPerDay + Int64(rng.int(0...40_000_000)))
                    let replied: Timestamp? = rng.unit() < 0.8
                        ? posted.adding(millis: Int64((0.2 + 70 * rng.unit() * rng.unit()) * 3_600_000)) : nil
                    reviews.append(ReviewRow(review: "\(id)-rv\(n)", customer: id, sku: skus[k], order: "\(id)-o\(n)", rating: rating,
                                             postedAt: posted, repliedAt: replied, text: "Great <b>tea</b> & \"mug\""))
                }
                n += 1
                d += Int64(max(7, -log(max(rng.unit(), 1e-6)) / rate))
                if rng.unit() < 0.18 { break }  // churned
            }
            states.append(b.state)
            let kinds = ["review_request", "win_back", "birthday_voucher", "replenishment", "cross_sell"]
            for a in 0..<rng.int(0...2) {
                let status = ["dispatched", "dispatched", "dispatched", "planned", "suppressed", "failed"][rng.int(0...5)]
                actions.append(ActionRow(action: "\(id)-a\(a)", customer: id, kind: kinds[rng.int(0...4)], channel: "email", status: status))
            }
        }

        var cohorts = CohortRetention()
        var timeline = StageTimeline(from: Month(year: 2024, month: 1), through: Month(year: 2025, month: 6))
        for state in states {
            cohorts.add(state)
            timeline.add(state)
        }
        var calibration: [CalibrationInput] = []
        for state in states where state.orderCount > 0 {
            let x = rng.int(0...9)
            let predicted = 0.3 + Double(x) * 0.55
            calibration.append(CalibrationInput(calibrationFrequency: x, predictedHoldoutPurchases: predicted,
                                                actualHoldoutPurchases: max(0, Int((predicted + (rng.unit() - 0.55) * 2).rounded()))))
        }
        return ReportData(
            shopName: "Teehaus Keller <Berlin> & Co",
            generatedAt: asOf,
            summary: ReportSummary(states: states),
            cohorts: cohorts.rows(through: Month(year: 2025, month: 6)),
            customerValue: CustomerValueDistribution(historicalOf: states, currency: Currency(code: "EUR")!),
            stages: timeline.result,
            calibration: CalibrationSection(model: "BG/NBD", calibrationEnd: CivilDate(year: 2024, month: 12, day: 31), holdoutDays: 181,
                                            rows: Calibration.buckets(calibration)),
            actions: ActionTally.tally(actions),
            reviews: ReviewSummary(reviews: reviews))
    }
}

@Suite("HTML report")
struct ReportTests {
    static let sample = SampleShop.build()
    static let html = ReportRenderer.render(sample)

    @Test("one self-contained HTML document with every section and inline SVG charts")
    func structure() {
        let html = Self.html
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        #expect(html.hasSuffix("</html>\n"))
        #expect(html.components(separatedBy: "<html").count == 2)
        #expect(html.components(separatedBy: "<body").count == 2)
        for id in ["summary", "cohorts", "customer-value", "stages", "calibration", "actions", "reviews"] {
            #expect(html.contains("id=\"\(id)\""), "missing section \(id)")
        }
        let svgs = html.components(separatedBy: "<svg").count - 1
        #expect(svgs >= 7)
        #expect(svgs == html.components(separatedBy: "</svg>").count - 1)
        #expect(html.components(separatedBy: "<section").count == html.components(separatedBy: "</section>").count)
        #expect(html.contains("Cohort retention"))
        #expect(html.contains("Predicted by BG/NBD"))
        #expect(!html.contains("class=\"empty\""))
    }

    @Test("no network: no URLs, scripts, external styles or fonts")
    func selfContained() {
        let lower = Self.html.lowercased()
        for banned in ["http://", "https://", "<script", "<link", "@import", "src=", "@font-face", "//cdn"] {
            #expect(!lower.contains(banned), "found \(banned)")
        }
        // The only url() is the heatmap's own gradient.
        #expect(lower.components(separatedBy: "url(").count - 1 == lower.components(separatedBy: "url(#aftersale-heat)").count - 1)
    }

    @Test("customer-provided text is escaped")
    func escaping() {
        var data = ReportData(shopName: "<script>alert('shop')</script>", generatedAt: SampleShop.asOf,
                              summary: ReportSummary(states: [Samples.customerState]))
        data.actions = [ActionTally(kind: "<script>alert(1)</script>", status: "x\"><img src=x onerror=alert(2)>", count: 3)]
        data.calibration = CalibrationSection(model: "</text><script>evil()</script>", rows: Calibration.buckets([
            CalibrationInput(calibrationFrequency: 1, predictedHoldoutPurchases: 1, actualHoldoutPurchases: 1),
        ]))
        let html = ReportRenderer.render(data)
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("<img"))
        #expect(html.contains("&lt;script&gt;alert(&#39;shop&#39;)&lt;/script&gt;"))
        #expect(html.contains("&lt;/text&gt;&lt;script&gt;evil()&lt;/script&gt;"))
        #expect(HTML.escape("a & b < c > d \" e ' f") == "a &amp; b &lt; c &gt; d &quot; e &#39; f")
    }

    @Test("the same data renders the same bytes")
    func deterministic() {
        #expect(ReportRenderer.render(SampleShop.build()) == Self.html)
        var shuffled = Self.sample
        shuffled.actions.reverse()
        shuffled.customerValue?.values.reverse()
        #expect(ReportRenderer.render(shuffled) == Self.html)
    }

    @Test("empty data renders every section with a friendly message")
    func empty() {
        let data = ReportData(shopName: "New shop", generatedAt: SampleShop.asOf, summary: ReportSummary(states: [CustomerState]()))
        let html = ReportRenderer.render(data)
        #expect(html.contains("No model fitted yet"))
        #expect(html.contains("No orders yet"))
        #expect(html.contains("No actions yet."))
        #expect(html.contains("No reviews yet."))
        #expect(html.components(separatedBy: "class=\"empty\"").count - 1 == 6)
        #expect(html.hasSuffix("</html>\n"))
    }

    @Test("summary numbers: exact revenue per currency, repeat rate, median value")
    func summary() {
        let a = CustomerBuilder("a")
        a.order("1", "2025-01-01", total: "10.00").order("2", "2025-02-01", total: "20.05")
        let b = CustomerBuilder("b")
        b.order("3", "2025-01-01", total: "5.00").order("4", "2025-01-02", total: "1200", currency: "JPY")
        let c = CustomerBuilder("c")
        c.order("5", "2025-01-01", total: "7.10").refund("r", order: "5", "2025-01-03", amount: "7.10")
        let d = CustomerBuilder("d")
        d.register("2025-01-01")
        let s = ReportSummary(states: [a.state, b.state, c.state, d.state])
        #expect(s.customers == 4)
        #expect(s.customersWithOrders == 3)
        #expect(s.repeatCustomers == 2)
        #expect(s.orders == 5)
        #expect(s.revenue.map(\.description) == ["35.05 EUR", "1200 JPY"])
        // EUR values 30.05, 5.00, 0.00: the median is 5.00.
        #expect(s.medianCustomerValue?.description == "5.00 EUR")
        #expect(HTML.money(Money(minorUnits: 123_456_789, currency: Currency(code: "EUR")!)) == "1,234,567.89 EUR")
        #expect(HTML.money(Money(minorUnits: -1_234_567, currency: Currency(code: "JPY")!)) == "-1,234,567 JPY")
    }

    @Test("reply-time percentiles interpolate between order statistics")
    func percentiles() {
        let r = ReviewSummary(replyHours: [10, 1, 4, 2])
        #expect(r.replyHoursPercentile(0.5) == 3)
        #expect(r.replyHoursPercentile(0) == 1)
        #expect(r.replyHoursPercentile(1) == 10)
        #expect(ReviewSummary().replyHoursPercentile(0.5) == nil)
    }

    /// `renderBytes` is the report for a sink that takes bytes: the rendered text, in UTF-8.
    @Test("the report's bytes are its text in UTF-8, for a shop with data and for one without")
    func bytes() {
        let bytes = ReportRenderer.renderBytes(Self.sample)
        #expect(bytes == Array(Self.html.utf8))
        #expect(String(decoding: bytes, as: UTF8.self) == Self.html)
        #expect(bytes.contains { $0 >= 0x80 }, "the sample has text beyond ASCII, so the encoding is checked too")
        let empty = ReportData(shopName: "Neuer Laden – Köln", generatedAt: SampleShop.asOf, summary: ReportSummary(states: [CustomerState]()))
        let emptyBytes = ReportRenderer.renderBytes(empty)
        #expect(emptyBytes == Array(ReportRenderer.render(empty).utf8))
        #expect(String(decoding: emptyBytes, as: UTF8.self).contains("Neuer Laden – Köln"))
    }
}
