import AftersaleCore
import Testing
@testable import AftersaleAnalytics

@Suite("RFM scores")
struct RFMTests {
    /// Ten customers whose scores are worked out by hand in the comments.
    static let base: [RFMInput] = {
        let recency: [Int64] = [100, 90, 80, 70, 60, 50, 40, 30, 20, 10]
        let orders = [1, 1, 1, 1, 1, 2, 2, 3, 5, 8]
        let money: [Int64] = [500, 100, 300, 200, 400, 900, 700, 600, 800, 1000]
        return (0..<10).map { RFMInput(customer: "c\($0 + 1)", recencyDays: recency[$0], orderCount: orders[$0], monetary: money[$0] * 100, currency: "EUR") }
    }()

    @Test("quintiles from counts of each value equal quintiles of the values, ties and all")
    func quintilesFromCounts() {
        var seed: UInt64 = 7
        for size in [1, 2, 5, 10, 11, 99, 1000] {
            var values: [Int64] = []
            for _ in 0..<size {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                values.append(Int64((seed >> 33) % UInt64(max(2, size / 3))) - 7)
            }
            var counts: [Int64: Int] = [:]
            for value in values { counts[value, default: 0] += 1 }
            #expect(RFM.quintiles(counts: counts) == RFM.quintiles(values), "\(size) values")
        }
    }

    @Test("quintiles on a known base of ten")
    func knownBase() {
        let scores = RFM.score(Self.base)
        // Distinct values: two customers per quintile, the most recent scoring 5.
        #expect((1...10).map { scores["c\($0)"]!.recency } == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
        // Five one-order customers tie at 1; two orders: 5 worse of 10 -> 1 + 25/10 = 3; 3 -> 4; 5 and 8 -> 5.
        #expect((1...10).map { scores["c\($0)"]!.frequency } == [1, 1, 1, 1, 1, 3, 3, 4, 5, 5])
        #expect((1...10).map { scores["c\($0)"]!.monetary } == [3, 1, 2, 1, 2, 5, 4, 3, 4, 5])
        #expect((1...10).map { scores["c\($0)"]!.segment } == [
            .hibernating, .hibernating, .hibernating, .hibernating, .needsAttention, .loyal, .loyal, .loyal, .champions, .champions,
        ])
    }

    @Test("the result does not depend on the input order")
    func orderIndependent() {
        #expect(RFM.score(Self.base.reversed()) == RFM.score(Self.base))
        let rotated = Array(Self.base[3...] + Self.base[..<3])
        #expect(RFM.score(rotated) == RFM.score(Self.base))
    }

    @Test("a base of equal customers all score 1; monetary is ranked within a currency")
    func tiesAndCurrencies() {
        let same = (0..<7).map { RFMInput(customer: "s\($0)", recencyDays: 5, orderCount: 2, monetary: 1000, currency: "EUR") }
        #expect(RFM.score(same).values.allSatisfy { $0.recency == 1 && $0.frequency == 1 && $0.monetary == 1 })

        let mixed = [
            RFMInput(customer: "e1", recencyDays: 1, orderCount: 1, monetary: 1_000, currency: "EUR"),
            RFMInput(customer: "e2", recencyDays: 1, orderCount: 1, monetary: 2_000, currency: "EUR"),
            RFMInput(customer: "j1", recencyDays: 1, orderCount: 1, monetary: 50_000, currency: "JPY"),
            RFMInput(customer: "j2", recencyDays: 1, orderCount: 1, monetary: 900_000, currency: "JPY"),
        ]
        let scores = RFM.score(mixed)
        #expect(scores["e1"]!.monetary == 1)
        #expect(scores["e2"]!.monetary == 3)
        #expect(scores["j1"]!.monetary == 1)
        #expect(scores["j2"]!.monetary == 3)
        #expect(RFM.score([]).isEmpty)
    }

    @Test("segment rules, first match wins")
    func segments() {
        #expect(RFMSegment.classify(recency: 5, frequency: 1, monetary: 5, orderCount: 1) == .new)
        #expect(RFMSegment.classify(recency: 4, frequency: 4, monetary: 4, orderCount: 6) == .champions)
        #expect(RFMSegment.classify(recency: 3, frequency: 5, monetary: 5, orderCount: 6) == .loyal)
        #expect(RFMSegment.classify(recency: 5, frequency: 2, monetary: 1, orderCount: 2) == .promising)
        #expect(RFMSegment.classify(recency: 2, frequency: 4, monetary: 4, orderCount: 5) == .atRisk)
        #expect(RFMSegment.classify(recency: 3, frequency: 1, monetary: 1, orderCount: 1) == .needsAttention)
        #expect(RFMSegment.classify(recency: 1, frequency: 2, monetary: 5, orderCount: 2) == .hibernating)
    }

    @Test("input from a customer state: net value, days since the last order; prospects are not scored")
    func inputFromState() {
        let input = RFMInput(state: Samples.customerState, asOf: Samples.asOf)
        #expect(input == RFMInput(customer: "c-1001, \"Anna\"", recencyDays: 60, orderCount: 3, monetary: 5980, currency: "EUR"))
        #expect(RFMInput(state: CustomerState(customer: "nobody"), asOf: Samples.asOf) == nil)
    }
}

@Suite("Cohort retention")
struct CohortTests {
    static var customers: [CustomerState] {
        let a = CustomerBuilder("a")
        a.order("a1", "2025-01-05", total: "10").order("a2", "2025-02-10", total: "10").order("a3", "2025-02-20", total: "10")
        a.order("a4", "2025-03-10", total: "10").cancel("a4", "2025-03-11")  // a cancelled order does not count
        a.order("a5", "2025-04-01", total: "10")
        let b = CustomerBuilder("b")
        b.order("b1", "2025-01-31T23:59:59Z", total: "10")
        let c = CustomerBuilder("c")
        c.order("c1", "2025-01-15", total: "10").order("c2", "2025-03-03", total: "1000", currency: "JPY")  // any currency counts
        let d = CustomerBuilder("d")
        d.order("d1", "2025-02-01T00:00:00Z", total: "10").order("d2", "2025-03-31", total: "10")
        let e = CustomerBuilder("e")
        e.order("e1", "2025-02-28T23:30:00-05:00", total: "10")  // 2025-03-01 in UTC: the March cohort
        e.order("e2", "2025-04-15", total: "10")
        let f = CustomerBuilder("f")
        f.order("f1", "2025-01-10", total: "10").cancel("f1", "2025-01-11")
        let g = CustomerBuilder("g")
        g.register("2025-01-01")
        return [a.state, b.state, c.state, d.state, e.state, f.state, g.state]
    }

    @Test("a hand-built base gives the worked-out table")
    func handBuilt() {
        var tally = CohortRetention()
        for state in Self.customers { tally.add(state) }
        let table = tally.rows().map { "\($0.cohort) +\($0.monthOffset): \($0.activeCustomers)/\($0.cohortSize)" }
        #expect(table == [
            "2025-01 +0: 3/3", "2025-01 +1: 1/3", "2025-01 +2: 1/3", "2025-01 +3: 1/3",
            "2025-02 +0: 1/1", "2025-02 +1: 1/1", "2025-02 +2: 0/1",
            "2025-03 +0: 1/1", "2025-03 +1: 1/1",
        ])
        let janM1 = tally.rows().first { $0.cohort == Month(year: 2025, month: 1) && $0.monthOffset == 1 }!
        #expect(janM1.csvFields.last! == "0.3333")
        #expect(janM1.month == Month(year: 2025, month: 2))
    }

    @Test("rows run to the month asked for, and adding order does not matter")
    func throughAndOrder() {
        var forward = CohortRetention(), backward = CohortRetention()
        for state in Self.customers { forward.add(state) }
        for state in Self.customers.reversed() { backward.add(state) }
        #expect(forward.rows() == backward.rows())
        let rows = forward.rows(through: Month(year: 2025, month: 6))
        #expect(rows.filter { $0.cohort == Month(year: 2025, month: 1) }.map(\.monthOffset) == [0, 1, 2, 3, 4, 5])
        #expect(rows.last == CohortRow(cohort: Month(year: 2025, month: 3), monthOffset: 3, cohortSize: 1, activeCustomers: 0))
        #expect(CohortRetention().rows().isEmpty)
    }

    @Test("months count across year ends and before 1970")
    func months() {
        #expect(Month(year: 2024, month: 11).adding(months: 3) == Month(year: 2025, month: 2))
        #expect(Month(year: 1970, month: 1).adding(months: -1) == Month(year: 1969, month: 12))
        #expect(Month(index: Month(year: 1969, month: 3).index) == Month(year: 1969, month: 3))
        #expect(Month(year: 2025, month: 3).description == "2025-03")
    }
}

@Suite("Products")
struct ProductTests {
    @Test("per SKU and currency: units, orders, exact revenue, return rate, reviews")
    func tally() {
        let x = CustomerBuilder("x")
        x.order("o-1", "2025-01-01", total: "25.00", lines: [("A", 2, "10.00"), ("B", 1, "5.00")], names: ["A": "Sencha"])
        x.order("o-2", "2025-01-05", total: "12.00", lines: [("A", 1, "12.00")])
        x.requestReturn("ret-1", order: "o-2", "2025-01-09")
        x.order("o-3", "2025-01-07", total: "50.00", lines: [("A", 5, "10.00")]).cancel("o-3", "2025-01-08")
        let y = CustomerBuilder("y")
        y.order("o-4", "2025-02-01", total: "1500", currency: "JPY", lines: [("A", 1, "1500")])
        y.order("o-5", "2025-03-01", total: "30.00", lines: [("A", 1, "10.00"), ("A", 1, "10.00"), ("B", 2, "5.00")],
                names: ["A": "Sencha 100 g"])

        var tally = ProductTally()
        tally.add(y.state)
        tally.add(x.state)
        tally.addReview(sku: "A", rating: 5, answered: true)
        tally.addReview(sku: "A", rating: 2, answered: false)
        tally.add(review: ReviewRow(review: "r-3", customer: "y", sku: "C", rating: 4, postedAt: Samples.asOf, repliedAt: Samples.asOf))
        let rows = tally.rows()
        let text = rows.map { row in
            row.csvFields.map { $0 ?? "∅" }.joined(separator: "|")
        }
        #expect(text == [
            "A|Sencha 100 g|∅|EUR|5|3|52.00|1|0.3333|2|3.50|1",
            "A|Sencha 100 g|∅|JPY|1|1|1500|0|0.0000|2|3.50|1",
            "B|∅|∅|EUR|3|2|15.00|0|0.0000|0|∅|0",
            "C|∅|∅|∅|0|0|∅|0|∅|1|4.00|0",
        ])
    }
}

@Suite("Calibration buckets")
struct CalibrationTests {
    @Test("frequencies 0-6 and a 7+ tail, with counts and means")
    func buckets() {
        let inputs = [
            CalibrationInput(calibrationFrequency: 0, predictedHoldoutPurchases: 0.25, actualHoldoutPurchases: 0),
            CalibrationInput(calibrationFrequency: 0, predictedHoldoutPurchases: 0.75, actualHoldoutPurchases: 1),
            CalibrationInput(calibrationFrequency: -1, predictedHoldoutPurchases: 0.5, actualHoldoutPurchases: 2),
            CalibrationInput(calibrationFrequency: 1, predictedHoldoutPurchases: 1.5, actualHoldoutPurchases: 1),
            CalibrationInput(calibrationFrequency: 3, predictedHoldoutPurchases: 2, actualHoldoutPurchases: 3),
            CalibrationInput(calibrationFrequency: 7, predictedHoldoutPurchases: 5, actualHoldoutPurchases: 4),
            CalibrationInput(calibrationFrequency: 9, predictedHoldoutPurchases: 6, actualHoldoutPurchases: 8),
            CalibrationInput(calibrationFrequency: 40, predictedHoldoutPurchases: 10, actualHoldoutPurchases: 9),
        ]
        let rows = Calibration.buckets(inputs)
        #expect(rows.map(\.label) == ["0", "1", "2", "3", "4", "5", "6", "7+"])
        #expect(rows.map(\.customers) == [3, 1, 0, 1, 0, 0, 0, 3])
        #expect(rows[0].meanPredicted == 0.5)
        #expect(rows[0].meanActual == 1)
        #expect(rows[2].meanPredicted == nil)
        #expect(rows[7].meanPredicted == 7)
        #expect(rows[7].meanActual == 7)
        #expect(rows[7].csvFields == ["7", "7+", "3", "7.0000", "7.0000", "21.0000", "21"])
        #expect(rows[2].csvFields == ["2", "2", "0", nil, nil, "0.0000", "0"])
        #expect(Calibration.buckets(inputs, tailFrom: 3).map(\.customers) == [3, 1, 0, 4])
    }
}

@Suite("Stage timeline")
struct StageTimelineTests {
    @Test("customers are classified at each month end from the orders placed by then")
    func monthEnds() {
        let buyer = CustomerBuilder("buyer")
        buyer.order("o-1", "2025-01-10", total: "10").order("o-2", "2025-02-05", total: "10")
        buyer.order("o-3", "2025-02-20", total: "10").cancel("o-3", "2025-04-02")
        let prospect = CustomerBuilder("prospect")
        prospect.register("2024-12-01")
        let late = CustomerBuilder("late")
        late.register("2025-03-15")
        var timeline = StageTimeline(from: Month(year: 2025, month: 1), through: Month(year: 2025, month: 6))
        for state in [buyer.state, prospect.state, late.state] { timeline.add(state) }
        let result = timeline.result
        #expect(result.map(\.total) == [2, 2, 3, 3, 3, 3])
        #expect(result[0].counts[.new] == 1)
        #expect(result[1].counts[.repeat] == 1)  // three orders by the end of February
        #expect(result[2].counts[.repeat] == 1)
        // End of May: last order 2025-02-05 (o-3 cancelled in April), gap 26 days -> rhythm 52 days: overdue.
        #expect(result[4].counts[.atRisk] == 1)
        #expect(result.allSatisfy { $0.counts.count == LifecycleStage.allCases.count })
        #expect(result[5].counts[.prospect] == 2)
    }

    @Test("the counts are those of classifying, at each month's end, the state made of the orders placed and not cancelled by then")
    func sameAsStatesAtMonthEnds() {
        // A fixed sequence (a linear congruential generator): the same customers every run.
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(n))
        }
        func day(_ offset: Int) -> String {
            let t = CustomerBuilder.at("2024-01-01").adding(millis: Int64(offset) * Timestamp.millisPerDay + Int64(next(20)) * 3_600_000)
            return t.description
        }
        var states: [CustomerState] = []
        for c in 0..<400 {
            let builder = CustomerBuilder("c-\(c)")
            if next(3) > 0 { builder.register(day(next(700))) }
            var at = next(600)
            for o in 0..<next(9) {
                builder.order("o-\(c)-\(o)", day(at), total: "10")
                // Now and then a second order the same day, or one cancelled later.
                if next(5) == 0 { builder.order("o-\(c)-\(o)b", day(at), total: "5") }
                if next(6) == 0 { builder.cancel("o-\(c)-\(o)", day(at + next(200))) }
                at += next(120)
            }
            var state = builder.state
            // Some states keep only their purchase days (no order details): the fallback.
            if c % 10 == 0 { state.orders = OrderBook() }
            states.append(state)
        }
        #expect(states.filter { $0.orders.isEmpty && !$0.purchaseDays.isEmpty }.count > 20)
        let (from, through) = (Month(year: 2024, month: 1), Month(year: 2026, month: 3))
        var timeline = StageTimeline(from: from, through: through)
        for state in states { timeline.add(state) }
        let expected = StageTimelineTests.byStates(states, months: timeline.months, thresholds: timeline.thresholds)
        #expect(timeline.result.map(\.counts) == expected.map { StageCount(month: from, counts: $0).counts })
        #expect(Set(timeline.result.flatMap { $0.counts.filter { $0.value > 0 }.map(\.key) }).count == LifecycleStage.allCases.count)
    }

    /// The counts as they were made before: a state for every customer and month, classified.
    static func byStates(_ states: [CustomerState], months: [Month], thresholds: LifecycleStage.Thresholds) -> [[LifecycleStage: Int]] {
        var counts = Array(repeating: [LifecycleStage: Int](), count: months.count)
        for state in states {
            let orders = state.orders.values.compactMap { o -> (placed: Timestamp, cancelled: Timestamp?)? in
                o.placedAt.map { ($0, o.cancelledAt) }
            }
            guard let since = [state.registeredAt, state.firstOrderAt, orders.map(\.placed).min()].compactMap({ $0 }).min() else { continue }
            for (i, month) in months.enumerated() {
                let end = Timestamp(millis: month.adding(months: 1).firstDay.daysSinceEpoch * Timestamp.millisPerDay - 1)
                guard since <= end else { continue }
                var past = CustomerState(customer: state.customer)
                if orders.isEmpty {
                    let days = state.purchaseDays.filter { $0.day * Timestamp.millisPerDay <= end.millis }
                    past.purchaseDays = days
                    past.orderCount = days.count
                    past.lastOrderAt = days.last.map { Timestamp(millis: $0.day * Timestamp.millisPerDay) }
                } else {
                    let live = orders.filter { $0.placed <= end && ($0.cancelled.map { $0 > end } ?? true) }
                    past.orderCount = live.count
                    past.lastOrderAt = live.map(\.placed).max()
                    past.purchaseDays = Set(live.map(\.placed.utcDay)).sorted().map { CustomerState.PurchaseDay(day: $0, value: 0) }
                }
                counts[i][LifecycleStage.classify(past, at: end, thresholds: thresholds), default: 0] += 1
            }
        }
        return counts
    }
}
