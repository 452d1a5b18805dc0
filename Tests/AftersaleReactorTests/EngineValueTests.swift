import AftersaleCore
@testable import AftersaleReactor
import ShopSimulator
import Testing

@Suite("The reactor engine as a value")
struct EngineValueTests {
    /// An engine whose forecaster predicts ten times what the customer spent so far.
    static func spendingEngine() -> ReactorEngine {
        var engine = ReactorEngine(configuration: ReactorConfiguration(), timeZoneOffset: { _, _ in 60 })
        engine.forecaster = { state, _ in
            state.primaryCurrency.map { CustomerForecast(pAlive: 0.9, predictedCLV: Money(minorUnits: state.placedValue[$0].minorUnits * 10, currency: $0)) }
        }
        return engine
    }

    static func order(_ total: String) -> Event {
        Event(id: "o-\(total)", type: .orderPlaced, customer: "c-1", at: try! Timestamp.parse("2025-03-03T10:00:00Z"),
              data: JSONObject(["order": "o-1", "total": .string(total), "currency": "EUR", "lines": .array([])]))
    }

    @Test("two copies that go on with different events never read each other's cached forecasts")
    func copiesDoNotShareForecasts() {
        var original = Self.spendingEngine()
        original.apply(Event(id: "r", type: .customerRegistered, customer: "c-1", at: try! Timestamp.parse("2025-03-01T09:00:00Z"),
                             data: JSONObject()))
        var big = original, small = original
        // The same customer with the same number of events (the cache's key): 800 EUR spent in one copy, 8 EUR in the other.
        big.apply(Self.order("800.00"))
        small.apply(Self.order("8.00"))
        let monday = try! Timestamp.parse("2025-03-10T00:00:00Z")
        let bigForecast = big.forecast(for: big.customers["c-1"]!.state, at: monday)
        let smallForecast = small.forecast(for: small.customers["c-1"]!.state, at: monday)
        #expect(bigForecast?.predictedCLV?.minorUnits == 800_000)
        #expect(smallForecast?.predictedCLV?.minorUnits == 8_000, "the small spender read the big spender's forecast")
        // A copy made later starts with the forecasts known so far, and keeps its own from then on.
        var later = big
        later.apply(Self.order("8.00"))
        #expect(big.forecast(for: big.customers["c-1"]!.state, at: monday)?.predictedCLV?.minorUnits == 800_000)
    }
}

@Suite("Co-purchase rankings")
struct CoPurchaseRankingTests {
    @Test("counts kept in order as they grow read the same as sorting them all, and as a table made from the counts")
    func rankingMatchesSort() {
        var table = CoPurchaseTable()
        var counts: [String: [String: Int]] = [:]
        // Pairs counted before are counted again by their slot half of the time, as a pass's shards do.
        var slots: [String: Int32] = [:]
        var random = SimulationRandom(seed: 3)
        for step in 0..<5_000 {
            // A few popular SKUs and a long tail, so that ties and overtakes both happen.
            let previous = "P-\(random.next() % 3)"
            let sku = "SKU-\(random.next() % 4 == 0 ? random.next() % 5 : random.next() % 200)"
            if let slot = slots[previous + " " + sku], random.next() % 2 == 0 {
                table.learn(slot: slot)
            } else {
                let p = table.number(previous)
                slots[previous + " " + sku] = table.learn(table.number(sku), after: p)
            }
            counts[previous, default: [:]][sku, default: 0] += 1
            if step % 250 == 0 || step == 4_999 {
                for (previous, after) in counts {
                    let sorted = after.map { CoPurchase(sku: $0.key, count: $0.value) }.sorted { ($0.count, $1.sku) > ($1.count, $0.sku) }
                    #expect(table.ranking(after: previous, limit: .max) == sorted)
                    #expect(table.ranking(after: previous, limit: 7) == Array(sorted.prefix(7)))
                    #expect(CoPurchaseTable(counts).ranking(after: previous, limit: .max) == sorted)
                }
                #expect(table.asDictionary == counts)
            }
        }
        #expect(table.ranking(after: "SKU-1", limit: 5) == nil, "nothing was counted after it")
    }
}

@Suite("The reactor's context as a value")
struct ContextValueTests {
    @Test("a copy of a context changed leaves the original as it was, field by field")
    func copiesAreIndependent() {
        let original = ReactorContext(now: Timestamp(millis: 1_000), predictions: ["c-1": CustomerForecast(pAlive: 0.5, predictedCLV: nil)],
                                      crossSell: ["A": [CoPurchase(sku: "B", count: 2)]], timeZoneOffset: { _, _ in 60 })
        var copy = original
        copy.now = Timestamp(millis: 2_000)
        copy.predictions["c-2"] = CustomerForecast(pAlive: 0.9, predictedCLV: nil)
        copy.crossSell["A"]?.append(CoPurchase(sku: "C", count: 1))
        copy.configuration.contact.maxMarketingPer7Days += 1
        copy.replenishmentDaysBySKU["A"] = 30
        copy.products["A"] = ProductInfo(name: "Soap")
        copy.timeZoneOffset = { _, _ in -300 }
        #expect(original.now == Timestamp(millis: 1_000) && copy.now == Timestamp(millis: 2_000))
        #expect(original.predictions.keys.sorted() == ["c-1"] && copy.predictions.keys.sorted() == ["c-1", "c-2"])
        #expect(original.crossSell["A"]?.count == 1 && copy.crossSell["A"]?.count == 2)
        #expect(original.configuration == ReactorConfiguration() && copy.configuration != ReactorConfiguration())
        #expect(original.replenishmentDaysBySKU.isEmpty && copy.replenishmentDaysBySKU["A"] == 30)
        #expect(original.products.isEmpty && copy.products["A"]?.name == "Soap")
        #expect(original.timeZoneOffset("UTC", Timestamp(millis: 0)) == 60 && copy.timeZoneOffset("UTC", Timestamp(millis: 0)) == -300)
        // And the other way round: the original changed after the copy was made.
        var first = copy
        first.now = Timestamp(millis: 3_000)
        #expect(copy.now == Timestamp(millis: 2_000))
    }
}
