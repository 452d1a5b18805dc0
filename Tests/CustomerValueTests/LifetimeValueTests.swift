import AftersaleCore
import BuyTillYouDie
import CustomerValue
import Testing

func customer(_ id: String, days: [(Int64, Int64)], currency: String = "USD") -> CustomerState {
    var s = CustomerState(customer: id)
    s.primaryCurrencyCode = currency
    s.purchaseDays = days.map { CustomerState.PurchaseDay(day: $0.0, value: $0.1) }
    s.orderCount = days.count
    s.placedValue.minorUnits = [currency: days.reduce(0) { $0 + $1.1 }]
    return s
}

/// States rebuilt from customers simulated by `truth` to day 400: the first purchase, then the
/// repeats spread to the recency.
func simulatedStates(_ truth: BGNBD, count: Int, seed: UInt64) -> [CustomerState] {
    let simulated = truth.simulateCustomers(count: count, firstPurchaseDays: 0..<90, calibrationEnd: 400, unit: .day,
                                            spend: GammaGamma(p: 6, q: 4, gamma: 15), seed: seed)
    return simulated.enumerated().map { i, s -> CustomerState in
        let first = Int64(400 - Int(s.age))
        var days: [(Int64, Int64)] = [(first, 2000)]
        for k in 0..<s.frequency {
            let day = s.frequency == 1 ? first + Int64(s.recency) : first + Int64((s.recency * Double(k + 1) / Double(s.frequency)).rounded())
            days.append((day, Int64(((s.monetaryValue ?? 20) * 100).rounded())))
        }
        var unique: [(Int64, Int64)] = []
        for d in days where unique.last?.0 != d.0 { unique.append(d) }
        return customer("c\(i)", days: unique)
    }
}

@Suite("Lifetime value from customer states")
struct LifetimeValueTests {
    @Test("model inputs: distinct days, first occasion excluded, purchases after the calibration end unseen")
    func summaries() throws {
        let s = customer("a", days: [(100, 1000), (107, 3000), (121, 5000), (200, 9900)])
        let summary = try #require(LifetimeValue.summary(of: s, through: 128, unit: .week))
        #expect(summary.frequency == 2)
        #expect(abs(summary.recency - 3) < 1e-12)
        #expect(abs(summary.age - 4) < 1e-12)
        #expect(summary.monetaryValue == 40.00, "mean of repeat occasions in major units")
        #expect(LifetimeValue.summary(of: s, through: 99, unit: .day) == nil, "no purchase by then")
    }

    @Test("a state's summary is, bit for bit, the summary of its purchases as RFMSummary makes it")
    func summaryEqualsGeneral() throws {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: UInt64) -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (seed >> 33) % bound
        }
        var compared = 0
        for i in 0..<2000 {
            var day = Int64(next(400))
            var days: [(Int64, Int64)] = []
            for _ in 0..<(1 + next(9)) {
                days.append((day, Int64(next(100_000)) - 500))
                day += 1 + Int64(next(60))
            }
            let currency = ["EUR", "JPY", "KWD"][i % 3]
            let s = customer("c\(i)", days: days, currency: currency)
            let digits = s.primaryCurrency!.minorUnitDigits
            var scale = 1.0
            for _ in 0..<digits { scale *= 10 }
            for unit in [TimeUnit.day, .week] {
                let end = Int64(next(900))
                let general = RFMSummary(purchases: days.map { Purchase(day: Int($0.0), value: Double($0.1) / scale) }.filter { $0.day <= end },
                                         calibrationEnd: Int(end), unit: unit)
                let fast = LifetimeValue.summary(of: s, through: end, unit: unit)
                #expect(fast == general, "\(days) through \(end)")
                if general != nil { compared += 1 }
            }
        }
        #expect(compared > 1500)
    }

    @Test("below the minimum of data the engine says it cannot predict yet, and why")
    func notEnoughData() {
        let states = (0..<50).map { customer("c\($0)", days: [(0, 100), (30, 100)]) }
        let error = #expect(throws: ValueModelError.self) {
            try LifetimeValue.fit(states, kind: .bgnbd, asOf: CivilDate(daysSinceEpoch: 200), unit: .day)
        }
        #expect(error?.description.contains("cannot predict yet: 50 repeat buyers") == true)
        #expect(throws: ValueModelError.self) { try LifetimeValue.fit([], kind: .bgnbd, asOf: CivilDate(daysSinceEpoch: 1), unit: .day) }
    }

    @Test("a fit recovers simulated parameters, is recorded as a valid model.fitted event and read back")
    func fitAndRecord() throws {
        let truth = BGNBD(r: 0.5, alpha: 20, a: 0.8, b: 3)
        let states = simulatedStates(truth, count: 20_000, seed: 7)
        let fitted = try LifetimeValue.fit(states, kind: .bgnbd, asOf: CivilDate(daysSinceEpoch: 400), unit: .day)
        #expect(abs(fitted.parameters["r"]! / truth.r - 1) < 0.2)
        #expect(abs(fitted.parameters["alpha"]! / truth.alpha - 1) < 0.2)
        let event = fitted.event()
        let validator = EventValidator(now: Timestamp(millis: 4_000_000_000_000))
        let line = try validator.decode(line: event.jsonLine)
        #expect(line == event, "the event passes the catalogue's own validation")
        #expect(FittedModel(event: event) == fitted)
        #expect(try LifetimeValue.fit(states, kind: .bgnbd, asOf: CivilDate(daysSinceEpoch: 400), unit: .day).event().id == event.id,
                "the same data gives the same event id, so recording it twice is a duplicate")

        let prediction = try #require(LifetimeValue.predict(states[0], with: fitted, now: CivilDate(daysSinceEpoch: 401).startOfDayUTC))
        #expect((0...1).contains(prediction.probabilityAlive))
        #expect(prediction.expectedPurchases30Days <= prediction.expectedPurchases90Days)
        #expect(prediction.expectedPurchases90Days <= prediction.expectedPurchases365Days)
        let predicted = try #require(prediction.predictedValue12Months)
        #expect(predicted.currency.code == "USD" && predicted.minorUnits >= 0)
        #expect(prediction.totalValue?.minorUnits == predicted.minorUnits + states[0].netValue[predicted.currency].minorUnits)

        // The reactor's forecast: the prediction but for the expected purchases, which it leaves out.
        for state in states.prefix(200) {
            let now = CivilDate(daysSinceEpoch: 401).startOfDayUTC
            var full = try #require(LifetimeValue.predict(state, with: fitted, now: now))
            #expect(full.expectedPurchases365Days > 0)
            (full.expectedPurchases30Days, full.expectedPurchases90Days, full.expectedPurchases365Days) = (0, 0, 0)
            #expect(LifetimeValue.forecast(state, with: fitted, now: now) == full)
        }
    }

    /// The reactor's forecaster leaves the 12 months' value to be computed when asked, with a bound
    /// that must hold now and, once the summary saw every purchase, at every later moment: a bound
    /// below the value would cost a customer a VIP treatment or a win-back.
    @Test("the reactor's deferred value is the prediction's, below its bound now and later", arguments: [PurchaseModelKind.bgnbd, .paretonbd])
    func deferredValue(kind: PurchaseModelKind) throws {
        let states = simulatedStates(BGNBD(r: 0.5, alpha: 20, a: 0.8, b: 3), count: 1_500, seed: 11)
        let fitted = try LifetimeValue.fit(states, kind: kind, asOf: CivilDate(daysSinceEpoch: 400), unit: .week)
        let forecaster = LifetimeValue.forecaster(for: fitted)
        var boundsCheckedLater = 0
        for state in states.prefix(250) {
            let now = CivilDate(daysSinceEpoch: 401).startOfDayUTC
            let full = try #require(LifetimeValue.forecast(state, with: fitted, now: now))
            let deferred = try #require(forecaster(state, now))
            #expect(deferred.probabilityAlive == full.probabilityAlive)
            #expect(deferred.repeatPurchaseProbability90Days == full.repeatPurchaseProbability90Days)
            #expect(deferred.expectedNextOrder == full.expectedNextOrder)
            let value = try #require(deferred.value())
            #expect(value == full.predictedValue12Months)
            #expect(deferred.currency == value.currency)
            let atMost = try #require(deferred.valueAtMost)
            #expect(value.minorUnits <= atMost, "\(state.customer): \(value.minorUnits) > \(atMost)")
            #expect(deferred.boundHoldsLater, "every purchase is before the forecast")
            for weeks in stride(from: 1, through: 156, by: 13) {
                let later = try #require(forecaster(state, now.adding(days: Double(7 * weeks))))
                let laterValue = try #require(later.value())
                #expect(laterValue.minorUnits <= atMost, "\(state.customer) \(weeks) weeks later: \(laterValue.minorUnits) > \(atMost)")
                boundsCheckedLater += 1
            }
            // A forecast from before the last purchase does not vouch for the forecasts after it.
            if let last = state.purchaseDays.last?.day, let first = state.purchaseDays.first?.day, last > first {
                let before = try #require(forecaster(state, CivilDate(daysSinceEpoch: last - 1).startOfDayUTC))
                #expect(!before.boundHoldsLater)
            }
        }
        #expect(boundsCheckedLater > 2_500)
    }
}
