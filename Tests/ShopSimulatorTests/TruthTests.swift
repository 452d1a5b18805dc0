#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import ShopSimulator
import Testing

@Suite("Known truth")
struct TruthTests {
    static let configuration = SimulationConfiguration.purchasesOnly(seed: 2024, customers: 20_000)
    static let truths = ShopSimulation(configuration).truths()

    static func meanAndStandardError(_ values: [Double]) -> (mean: Double, standardError: Double) {
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)
        return (mean, (variance / n).squareRoot())
    }

    @Test("drawn λ, p and ν match their population means within sampling error")
    func parameterMeans() {
        let purchases = Self.configuration.purchases
        let spend = Self.configuration.spend
        let n = Double(Self.truths.count)
        let lambdaSD = purchases.r.squareRoot() / purchases.alpha
        let lambdaMean = Self.truths.map(\.lambda).reduce(0, +) / n
        #expect(abs(lambdaMean - purchases.meanRate) < 4 * lambdaSD / n.squareRoot())
        let a = purchases.a, b = purchases.b
        let pSD = (a * b / ((a + b) * (a + b) * (a + b + 1))).squareRoot()
        let pMean = Self.truths.map(\.p).reduce(0, +) / n
        #expect(abs(pMean - purchases.meanDropout) < 4 * pSD / n.squareRoot())
        let nuMean = Self.truths.map(\.nu).reduce(0, +) / n
        let nuSD = spend.q.squareRoot() / spend.gamma
        #expect(abs(nuMean - spend.q / spend.gamma) < 4 * nuSD / n.squareRoot())
    }

    @Test("customers are acquired over the acquisition window in number order")
    func acquisition() {
        let configuration = Self.configuration
        let windowEnd = configuration.start
            + Int64(configuration.acquisitionFraction * Double(configuration.days) * Double(CivilTime.secondsPerDay))
        var previous = Int64.min
        for truth in Self.truths {
            #expect(truth.registered >= previous)
            #expect(truth.registered >= configuration.start && truth.firstPurchase < windowEnd)
            #expect(truth.firstPurchase > truth.registered)
            previous = truth.registered
        }
    }

    /// E[X(t)] under BG/NBD (Fader, Hardie and Lee 2005, eq. 9).
    static func expectedRepeats(days t: Double, _ parameters: PurchaseParameters) -> Double {
        let (r, alpha, a, b) = (parameters.r, parameters.alpha, parameters.a, parameters.b)
        let z = t / (alpha + t)
        // Gauss hypergeometric 2F1(r, b; a + b - 1; z) by its power series.
        var term = 1.0
        var sum = 1.0
        var n = 0.0
        while abs(term) > 1e-15 * abs(sum) && n < 200_000 {
            term *= (r + n) * (b + n) / ((a + b - 1 + n) * (n + 1)) * z
            sum += term
            n += 1
        }
        return (a + b - 1) / (a - 1) * (1 - pow(alpha / (alpha + t), r) * sum)
    }

    @Test("the realised number of repeat purchases matches the BG/NBD expectation E[X(T)]")
    func repeatPurchasesMatchBGNBD() {
        let configuration = Self.configuration
        let realised = Self.truths.map { Double($0.repeatPurchases) }
        let (mean, standardError) = Self.meanAndStandardError(realised)
        let expected = Self.truths.map { truth in
            let days = Double(configuration.end - truth.firstPurchase) / Double(CivilTime.secondsPerDay)
            return Self.expectedRepeats(days: days, configuration.purchases)
        }.reduce(0, +) / Double(Self.truths.count)
        #expect(abs(mean - expected) < 4 * standardError, "mean repeats \(mean), BG/NBD expects \(expected)")
        #expect(standardError < 0.05 * expected, "too few customers for a meaningful comparison")
    }

    @Test("customers who never repeat are alive; dropouts happen only at repeat purchases")
    func dropoutOnlyAfterRepeat() {
        for truth in Self.truths {
            if truth.repeatPurchases == 0 { #expect(truth.isAliveAtEnd) }
            if let dropout = truth.dropout { #expect(dropout == truth.lastPurchase) }
        }
        let dropped = Self.truths.filter { !$0.isAliveAtEnd }.count
        #expect(dropped > 0 && dropped < Self.truths.count)
    }

    @Test("the purchases-only log shows exactly the truth: counts, first and last orders, spend")
    func logMatchesTruth() throws {
        let simulation = ShopSimulation(Fixtures.purchasesOnlyConfiguration)
        var count: [String: Int] = [:]
        var first: [String: Int64] = [:]
        var last: [String: Int64] = [:]
        var spend: [String: Int64] = [:]
        for case let event? in Fixtures.parse(Fixtures.purchasesOnly) where event["type"] as? String == "order.placed" {
            let customer = try #require(event["customer"] as? String)
            let at = try #require(Fixtures.unixSeconds(event["at"] as? String ?? ""))
            let total = try #require(SimulatedMoney.cents((event["data"] as? [String: Any])?["total"] as? String ?? ""))
            count[customer, default: 0] += 1
            if first[customer] == nil { first[customer] = at }
            last[customer] = at
            spend[customer, default: 0] += total
        }
        for number in 1...Fixtures.purchasesOnlyConfiguration.customers {
            let truth = simulation.truth(forCustomer: number)
            #expect(truth.id == simulation.customerID(number))
            #expect(count[truth.id] == truth.purchases)
            #expect(first[truth.id] == truth.firstPurchase)
            #expect(last[truth.id] == truth.lastPurchase)
            #expect(spend[truth.id] == truth.totalSpend)
        }
    }

    @Test("first-order spend matches the Gamma-Gamma mean p γ / (q − 1)")
    func spendMatchesGammaGamma() throws {
        var firstTotals: [Double] = []
        var seen = Set<String>()
        for case let event? in Fixtures.parse(Fixtures.purchasesOnly) where event["type"] as? String == "order.placed" {
            let customer = try #require(event["customer"] as? String)
            guard seen.insert(customer).inserted else { continue }
            let total = try #require(SimulatedMoney.cents((event["data"] as? [String: Any])?["total"] as? String ?? ""))
            firstTotals.append(Double(total) / 100)
        }
        let (mean, standardError) = Self.meanAndStandardError(firstTotals)
        let expected = Fixtures.purchasesOnlyConfiguration.spend.meanSpend
        #expect(abs(mean - expected) < 4 * standardError, "mean first order \(mean), expected \(expected)")
    }
}
