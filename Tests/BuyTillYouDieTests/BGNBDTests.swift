import BuyTillYouDie
import Foundation
import Testing

@Suite("BG/NBD")
struct BGNBDTests {
    static let published = BGNBD(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)

    @Test func reproducesThePublishedCDNOWEstimates() throws {
        let fit = try BGNBD.fit(CDNOW.statistics)
        #expect(rounded(fit.model.r, 3) == 0.243)
        #expect(rounded(fit.model.alpha, 3) == 4.414)
        #expect(rounded(fit.model.a, 3) == 0.793)
        #expect(rounded(fit.model.b, 3) == 2.426)
        #expect(rounded(fit.logLikelihood, 1) == -9582.4)
        #expect(fit.customerCount == 2357)
        #expect(fit.converged)
        #expect(fit.gradientNorm <= FitOptions().gradientTolerance)
        #expect(abs(fit.logLikelihood - fit.model.logLikelihood(CDNOW.statistics)) < 1e-6)
    }

    @Test func reproducesThePublishedConditionalExpectation() {
        // Fader, Hardie & Lee (2005): x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in 39 weeks.
        let customer = RFMSummary(frequency: 2, recency: 30.43, age: 38.86)
        #expect(rounded(Self.published.expectedPurchases(in: 39, for: customer), 3) == 1.226)
    }

    /// A forecast asks for twelve months at once; every month's value must be the one asked alone,
    /// to the bit, or a replay of the reactor would decide differently.
    @Test func expectationsForSeveralDurationsAreEachTheOneAskedAlone() {
        let models = [Self.published, BGNBD(r: 1.3, alpha: 0.7, a: 2.2, b: 0.6), BGNBD(r: 0.5, alpha: 12, a: 1, b: 3),
                      BGNBD(r: 0.2, alpha: 3, a: 0.4, b: 0.5)]
        let customers = [RFMSummary(frequency: 0, recency: 0, age: 30), RFMSummary(frequency: 2, recency: 30.43, age: 38.86),
                         RFMSummary(frequency: 25, recency: 70, age: 75), RFMSummary(frequency: 1, recency: 0.5, age: 0.5)]
        let durations = [0, 4.35, 8.7, 13.04, 26.1, 52.2, 104, 500, -1]
        for model in models {
            for customer in customers {
                let together = model.expectedPurchases(in: durations, for: customer)
                #expect(together.count == durations.count)
                for (k, duration) in durations.enumerated() {
                    let alone = model.expectedPurchases(in: duration, for: customer)
                    #expect(together[k].bitPattern == alone.bitPattern, "\(model) \(customer) t = \(duration): \(together[k]) vs \(alone)")
                }
            }
        }
    }

    @Test func analyticGradientMatchesFiniteDifferences() {
        let statistics = CDNOW.statistics
        for model in [Self.published, BGNBD(r: 1.3, alpha: 0.7, a: 2.2, b: 0.6)] {
            let gradient = model.logLikelihoodGradient(statistics)
            let base = [model.r, model.alpha, model.a, model.b]
            let f = { (p: [Double]) in BGNBD(r: p[0], alpha: p[1], a: p[2], b: p[3]).logLikelihood(statistics) }
            for i in 0..<4 {
                let numeric = fivePointDerivative(f, at: base, index: i)
                #expect(abs(numeric - gradient[i]) <= 1e-6 * max(1, abs(numeric)), "parameter \(i)")
            }
        }
    }

    /// P(alive) and E[Y(t)] by direct numerical integration over the posterior of p given the
    /// customer is active: E[Y(t) | alive, p] = (1/p)(1 − ((α+T)/(α+T+pt))^(r+x)), p ~ Beta(a, b+x).
    static func expectedPurchasesByIntegration(_ m: BGNBD, _ c: RFMSummary, _ t: Double) -> Double {
        let x = Double(c.frequency)
        let shape = m.r + x, scale = m.alpha + c.age
        let bPosterior = m.b + x
        // Substitute p = w^(1/a) to remove the p^(a−1) singularity: p^(a−1) dp = dw / a.
        let n = 200_000
        var sum = 0.0
        for k in 0..<n {
            let w = (Double(k) + 0.5) / Double(n)
            let p = pow(w, 1 / m.a)
            let conditional = -expm1(-shape * log1p(p * t / scale)) / p
            sum += conditional * pow(1 - p, bPosterior - 1)
        }
        let betaFunction = exp(lgamma(m.a) + lgamma(bPosterior) - lgamma(m.a + bPosterior))
        let alive = c.frequency == 0 ? 1 : 1 / (1 + m.a / (m.b + x - 1) * pow((m.alpha + c.age) / (m.alpha + c.recency), shape))
        return alive * sum / Double(n) / m.a / betaFunction
    }

    @Test(arguments: [1, 2, 18, 1000])
    func cdnowCustomerPredictionsMatchNumericalIntegration(id: Int) {
        let customer = CDNOW.customers[id]!
        let model = Self.published
        let predicted = model.expectedPurchases(in: 39, for: customer)
        let integrated = Self.expectedPurchasesByIntegration(model, customer, 39)
        #expect(abs(predicted - integrated) < 1e-6 * max(1, integrated), "customer \(id): \(predicted) vs \(integrated)")
    }

    @Test func probabilityAliveAgainstDirectFormula() {
        let m = Self.published
        let customer = CDNOW.customers[1]!  // x = 2, recency 30.43 weeks
        let expected = 1 / (1 + m.a / (m.b + 1) * pow((m.alpha + customer.age) / (m.alpha + customer.recency), m.r + 2))
        #expect(customer.frequency == 2)
        #expect(abs(m.probabilityAlive(customer) - expected) < 1e-14)
        #expect(m.probabilityAlive(RFMSummary(frequency: 0, recency: 0, age: 30)) == 1)
        // Someone who bought often and long ago is likely gone.
        #expect(m.probabilityAlive(RFMSummary(frequency: 10, recency: 5, age: 38)) < 0.01)
    }

    @Test func purchaseProbabilityAndMedianWaitingTimeAreConsistent() {
        let m = Self.published
        let customer = RFMSummary(frequency: 3, recency: 20, age: 30)
        let median = m.medianTimeToNextPurchase(for: customer)
        let alive = m.probabilityAlive(customer)
        #expect(abs(m.probabilityOfPurchase(within: median, for: customer) - 0.5 * alive) < 1e-12)
        #expect(m.probabilityOfPurchase(within: 0, for: customer) == 0)
        #expect(m.probabilityOfPurchase(within: 1e9, for: customer) <= alive)
        #expect(m.probabilityOfPurchase(within: 10, for: customer) < m.probabilityOfPurchase(within: 20, for: customer))
    }

    @Test func extremeCustomersStayFinite() {
        let m = BGNBD(r: 0.243, alpha: 4.414 * 7, a: 0.793, b: 2.426)  // days
        for customer in [
            RFMSummary(frequency: 500, recency: 2999, age: 3000),
            RFMSummary(frequency: 500, recency: 10, age: 3000),
            RFMSummary(frequency: 0, recency: 0, age: 5000),
            RFMSummary(frequency: 1, recency: 0.5, age: 1),
        ] {
            let values = [
                m.probabilityAlive(customer),
                m.expectedPurchases(in: 365, for: customer),
                m.expectedPurchases(in: 5000, for: customer),
                m.probabilityOfPurchase(within: 365, for: customer),
                m.medianTimeToNextPurchase(for: customer),
            ]
            #expect(values.allSatisfy { $0.isFinite && $0 >= 0 }, "\(customer): \(values)")
        }
        let statistics = SufficientStatistics([
            RFMSummary(frequency: 800, recency: 2900, age: 3000),
            RFMSummary(frequency: 300, recency: 100, age: 3000),
            RFMSummary(frequency: 0, recency: 0, age: 4000),
        ])
        #expect(m.logLikelihood(statistics).isFinite)
        #expect(m.logLikelihoodGradient(statistics).allSatisfy { $0.isFinite })
    }

    @Test func expectationIsContinuousAcrossAEqualsOne() {
        let customer = RFMSummary(frequency: 2, recency: 30, age: 38)
        let atOne = BGNBD(r: 0.3, alpha: 4, a: 1, b: 2.5).expectedPurchases(in: 39, for: customer)
        let near = BGNBD(r: 0.3, alpha: 4, a: 1 + 1e-9, b: 2.5).expectedPurchases(in: 39, for: customer)
        #expect(atOne.isFinite)
        #expect(abs(atOne - near) < 1e-7)
    }

    @Test func lifetimeValueDiscountsMonthlyExpectedPurchases() {
        let m = Self.published
        let customer = CDNOW.customers[1]!
        let undiscounted = m.lifetimeValue(of: customer, averageSpend: 20, months: 12, monthlyDiscountRate: 0, unit: .week)
        #expect(abs(undiscounted - 20 * m.expectedPurchases(in: 365.25 / 7, for: customer)) < 1e-9)
        let discounted = m.lifetimeValue(of: customer, averageSpend: 20, months: 12, monthlyDiscountRate: 0.01, unit: .week)
        #expect(discounted < undiscounted)
        #expect(discounted > undiscounted / 1.01 / 1.01 / 1.01 / 1.01 / 1.01 / 1.01 / 1.01 / 1.01 / 1.01 / 1.01 / 1.01 / 1.01)
        // Same customer and model expressed in days give the same value.
        let inDays = BGNBD(r: m.r, alpha: m.alpha * 7, a: m.a, b: m.b)
        let customerInDays = RFMSummary(frequency: customer.frequency, recency: customer.recency * 7, age: customer.age * 7)
        let dayValue = inDays.lifetimeValue(of: customerInDays, averageSpend: 20, months: 12, monthlyDiscountRate: 0.01, unit: .day)
        #expect(abs(dayValue - discounted) < 1e-9)
    }
}
