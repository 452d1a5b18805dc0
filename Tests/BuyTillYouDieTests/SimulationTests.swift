import BuyTillYouDie
import Testing

@Suite("Simulation and parameter recovery")
struct SimulationTests {
    static let truth = BGNBD(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)

    @Test func splitMix64IsDeterministic() {
        var a = SplitMix64(seed: 7), b = SplitMix64(seed: 7), c = SplitMix64(seed: 8)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        #expect(first != (0..<5).map { _ in c.next() })
        // Reference value of SplitMix64 seeded with 0.
        var zero = SplitMix64(seed: 0)
        #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
    }

    @Test func simulationIsReproducibleAndRespectsTheCalendar() {
        let one = Self.truth.simulateCustomers(count: 500, firstPurchaseDays: 0..<84, calibrationEnd: 272, unit: .week, seed: 1)
        let two = Self.truth.simulateCustomers(count: 500, firstPurchaseDays: 0..<84, calibrationEnd: 272, unit: .week, seed: 1)
        #expect(one == two)
        #expect(one.allSatisfy { $0.recency <= $0.age && $0.age <= 272.0 / 7 && $0.age > 188.0 / 7 })
        #expect(one.contains { $0.frequency > 0 })
    }

    @Test func recoversKnownParametersFrom20kCustomers() throws {
        let spend = GammaGamma(p: 6.25, q: 3.74, gamma: 15.44)
        let customers = Self.truth.simulateCustomers(
            count: 20_000, firstPurchaseDays: 0..<84, calibrationEnd: 729, unit: .week, spend: spend, seed: 2024)
        let fit = try BGNBD.fit(SufficientStatistics(customers))
        let pairs = [(fit.model.r, Self.truth.r), (fit.model.alpha, Self.truth.alpha), (fit.model.a, Self.truth.a), (fit.model.b, Self.truth.b)]
        for (estimate, truth) in pairs {
            #expect(abs(estimate / truth - 1) < 0.15, "\(estimate) vs \(truth)")
        }
        let spendFit = try GammaGamma.fit(customers)
        #expect(abs(spendFit.model.populationAverageSpend / spend.populationAverageSpend - 1) < 0.1)
        #expect(abs(spendFit.model.p / spend.p - 1) < 0.25)
    }

    @Test func fitsAMillionCustomers() throws {
        let customers = Self.truth.simulateCustomers(count: 1_000_000, firstPurchaseDays: 0..<84, calibrationEnd: 272, unit: .week, seed: 99)
        let statistics = SufficientStatistics(customers)
        #expect(statistics.customerCount == 1_000_000)
        #expect(statistics.rows.count < 200_000)
        let fit = try BGNBD.fit(statistics)
        #expect(fit.customerCount == 1_000_000)
        #expect(fit.logLikelihood.isFinite)
        #expect(abs(fit.model.r / Self.truth.r - 1) < 0.05)
        #expect(abs(fit.model.alpha / Self.truth.alpha - 1) < 0.05)
    }
}
