import BuyTillYouDie
import Foundation
import Testing

@Suite("Gamma-Gamma")
struct GammaGammaTests {
    @Test func reproducesThePublishedCDNOWEstimates() throws {
        let fit = try GammaGamma.fit(CDNOW.customers.values)
        #expect(fit.customerCount == 946)
        #expect(rounded(fit.model.p, 2) == 6.25)
        #expect(rounded(fit.model.q, 2) == 3.74)
        #expect(rounded(fit.model.gamma, 2) == 15.44)
        #expect(rounded(fit.model.populationAverageSpend, 2) == 35.17)
    }

    @Test func analyticGradientMatchesFiniteDifferences() {
        let customers = Array(CDNOW.customers.values)
        for m in [GammaGamma(p: 6.25, q: 3.74, gamma: 15.44), GammaGamma(p: 1.5, q: 0.8, gamma: 40)] {
            let gradient = m.logLikelihoodGradient(customers)
            let f = { (p: [Double]) in GammaGamma(p: p[0], q: p[1], gamma: p[2]).logLikelihood(customers) }
            for i in 0..<3 {
                let numeric = fivePointDerivative(f, at: [m.p, m.q, m.gamma], index: i)
                #expect(abs(numeric - gradient[i]) <= 1e-6 * max(1, abs(numeric)), "parameter \(i)")
            }
        }
    }

    @Test func expectedSpendWeighsPopulationAndCustomerMeans() {
        let m = GammaGamma(p: 6.25, q: 3.74, gamma: 15.44)
        let x = 3.0, own = 50.0
        let weight = m.p * x / (m.p * x + m.q - 1)
        let expected = (1 - weight) * m.populationAverageSpend + weight * own
        #expect(abs(m.expectedAverageSpend(frequency: 3, monetaryValue: own) - expected) < 1e-12)
        #expect(m.expectedAverageSpend(frequency: 0, monetaryValue: nil) == m.populationAverageSpend)
        #expect(GammaGamma(p: 1, q: 0.9, gamma: 1).populationAverageSpend == .infinity)
    }

    @Test func lifetimeValueUsesTheExpectedSpend() {
        let purchases = BGNBD(r: 0.243, alpha: 4.414, a: 0.793, b: 2.426)
        let spend = GammaGamma(p: 6.25, q: 3.74, gamma: 15.44)
        let customer = CDNOW.customers[1]!
        let average = spend.expectedAverageSpend(frequency: customer.frequency, monetaryValue: customer.monetaryValue)
        let value = purchases.lifetimeValue(of: customer, spend: spend, unit: .week)
        #expect(value > 0)
        #expect(abs(value - purchases.lifetimeValue(of: customer, averageSpend: average, unit: .week)) < 1e-12)
    }
}
