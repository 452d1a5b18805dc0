import BuyTillYouDie
import Foundation
import Testing

@Suite("Pareto/NBD")
struct ParetoNBDTests {
    static let published = ParetoNBD(r: 0.553, alpha: 10.578, s: 0.606, beta: 11.669)

    @Test func reproducesThePublishedCDNOWEstimates() throws {
        let fit = try ParetoNBD.fit(CDNOW.statistics)
        #expect(rounded(fit.model.r, 3) == 0.553)
        #expect(rounded(fit.model.alpha, 3) == 10.578)
        #expect(rounded(fit.model.s, 3) == 0.606)
        #expect(rounded(fit.model.beta, 3) == 11.669)
        #expect(rounded(fit.logLikelihood, 1) == -9595.0)
        #expect(fit.customerCount == 2357)
    }

    /// s/(r+s+x)·A0 = ∫ from t_x to T of s (α+τ)^−(r+x) (β+τ)^−(s+1) dτ: the chance of dying at τ
    /// after the last purchase, integrated directly instead of through ₂F₁.
    static func probabilityAliveByIntegration(_ m: ParetoNBD, _ c: RFMSummary) -> Double {
        let x = Double(c.frequency)
        let n = 20_000
        let width = (c.age - c.recency) / Double(n)
        var dead = 0.0
        for k in 0..<n {
            let tau = c.recency + (Double(k) + 0.5) * width
            // Relative to the survival term (α+T)^−(r+x) (β+T)^−s.
            dead += m.s * exp(-(m.r + x) * log((m.alpha + tau) / (m.alpha + c.age)) - m.s * log((m.beta + tau) / (m.beta + c.age))) / (m.beta + tau)
        }
        return 1 / (1 + dead * width)
    }

    /// E[Y(t) | alive] = (r+x)/(α+T) ∫₀ᵗ ((β+T)/(β+T+u))^s du.
    static func expectedPurchasesByIntegration(_ m: ParetoNBD, _ c: RFMSummary, _ t: Double) -> Double {
        let x = Double(c.frequency)
        let n = 20_000
        var sum = 0.0
        for k in 0..<n {
            let u = (Double(k) + 0.5) * t / Double(n)
            sum += pow((m.beta + c.age) / (m.beta + c.age + u), m.s)
        }
        return probabilityAliveByIntegration(m, c) * (m.r + x) / (m.alpha + c.age) * sum * t / Double(n)
    }

    @Test(arguments: [1, 2, 18, 1000])
    func cdnowCustomerPredictionsMatchNumericalIntegration(id: Int) {
        let customer = CDNOW.customers[id]!
        let m = Self.published
        let alive = m.probabilityAlive(customer)
        #expect(abs(alive - Self.probabilityAliveByIntegration(m, customer)) < 1e-6, "customer \(id)")
        let expected = m.expectedPurchases(in: 39, for: customer)
        #expect(abs(expected - Self.expectedPurchasesByIntegration(m, customer, 39)) < 1e-6, "customer \(id)")
    }

    @Test func bothBranchesOfTheHypergeometricSwapMatchIntegration() {
        let customer = RFMSummary(frequency: 4, recency: 12, age: 40)
        for m in [
            ParetoNBD(r: 0.5, alpha: 30, s: 0.8, beta: 3),  // alpha ≥ beta
            ParetoNBD(r: 0.5, alpha: 3, s: 0.8, beta: 30),  // alpha < beta
            ParetoNBD(r: 0.5, alpha: 7, s: 1, beta: 7),  // equal, s = 1
        ] {
            #expect(abs(m.probabilityAlive(customer) - Self.probabilityAliveByIntegration(m, customer)) < 1e-6, "\(m)")
            #expect(abs(m.expectedPurchases(in: 20, for: customer) - Self.expectedPurchasesByIntegration(m, customer, 20)) < 1e-6, "\(m)")
        }
    }

    @Test func gradientUsedByTheFitMatchesAFiveHundredTimesFinerStencil() {
        // The fit's gradient is by central differences; check the likelihood it differentiates is smooth.
        let statistics = CDNOW.statistics
        let m = ParetoNBD(r: 0.7, alpha: 8, s: 0.9, beta: 15)
        let f = { (p: [Double]) in ParetoNBD(r: p[0], alpha: p[1], s: p[2], beta: p[3]).logLikelihood(statistics) }
        let base = [m.r, m.alpha, m.s, m.beta]
        for i in 0..<4 {
            let coarse = fivePointDerivative(f, at: base, index: i, relativeStep: 1e-3)
            let fine = fivePointDerivative(f, at: base, index: i, relativeStep: 2e-6)
            #expect(abs(coarse - fine) < 1e-4 * max(1, abs(coarse)), "parameter \(i): \(coarse) vs \(fine)")
        }
    }

    @Test func purchaseProbabilityAndMedianWaitingTime() {
        let m = Self.published
        let customer = RFMSummary(frequency: 5, recency: 30, age: 38)
        let alive = m.probabilityAlive(customer)
        let median = m.medianTimeToNextPurchase(for: customer)
        #expect(median.isFinite)
        #expect(abs(m.probabilityOfPurchase(within: median, for: customer) - 0.5 * alive) < 1e-8)
        // With s → 0 nobody dies and the NBD answer 1 − ((α+T)/(α+T+t))^(r+x) holds.
        let immortal = ParetoNBD(r: 0.5, alpha: 10, s: 1e-12, beta: 10)
        let fresh = RFMSummary(frequency: 2, recency: 38, age: 38)
        let nbd = 1 - pow(48.0 / (48 + 26), 2.5)
        #expect(abs(immortal.probabilityOfPurchase(within: 26, for: fresh) - nbd) < 1e-9)
        // A one-time buyer with tiny r is more likely never to buy again: median is infinite.
        #expect(m.medianTimeToNextPurchase(for: RFMSummary(frequency: 0, recency: 0, age: 38)) == .infinity)
    }

    @Test func extremeCustomersStayFinite() {
        let m = ParetoNBD(r: 0.553, alpha: 10.578 * 7, s: 0.606, beta: 11.669 * 7)  // days
        let statistics = SufficientStatistics([
            RFMSummary(frequency: 600, recency: 2990, age: 3000),
            RFMSummary(frequency: 300, recency: 15, age: 3000),
            RFMSummary(frequency: 0, recency: 0, age: 5000),
        ])
        #expect(m.logLikelihood(statistics).isFinite)
        for row in statistics.rows {
            let c = RFMSummary(frequency: row.frequency, recency: row.recency, age: row.age)
            let values = [m.probabilityAlive(c), m.expectedPurchases(in: 365, for: c), m.probabilityOfPurchase(within: 365, for: c)]
            #expect(values.allSatisfy { $0.isFinite && $0 >= 0 }, "\(c): \(values)")
        }
        // A skewed alpha/beta ratio pushes the ₂F₁ argument towards 1.
        let skewed = ParetoNBD(r: 0.5, alpha: 5000, s: 0.6, beta: 0.5)
        #expect(skewed.logLikelihood(statistics).isFinite)
    }
}
