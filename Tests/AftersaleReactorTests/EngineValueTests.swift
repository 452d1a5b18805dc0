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
    @Test("counts kept in order as they grow read the same as sorting them all")
    func rankingMatchesSort() {
        var ranking = CoPurchaseRanking()
        var counts: [String: Int] = [:]
        var random = SimulationRandom(seed: 3)
        for step in 0..<5_000 {
            // A few popular SKUs and a long tail, so that ties and overtakes both happen.
            let sku = "SKU-\(random.next() % 4 == 0 ? random.next() % 5 : random.next() % 200)"
            ranking.increment(sku)
            counts[sku, default: 0] += 1
            if step % 250 == 0 || step == 4_999 {
                let sorted = counts.map { CoPurchase(sku: $0.key, count: $0.value) }.sorted { ($0.count, $1.sku) > ($1.count, $0.sku) }
                #expect(ranking.entries == sorted)
                #expect(CoPurchaseRanking(counts).entries == sorted)
            }
        }
    }
}
