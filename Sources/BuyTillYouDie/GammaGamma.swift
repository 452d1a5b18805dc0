import Foundation

/// The Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM and CLV").
///
/// Each purchase's value is Gamma(shape `p`, rate ν) with ν ~ Gamma(shape `q`, rate `gamma`)
/// per customer, independent of the purchase process.
public struct GammaGamma: Sendable, Hashable {
    /// Shape of each purchase's value.
    public var p: Double
    /// Shape of the distribution of customers' value rates.
    public var q: Double
    /// Rate of the distribution of customers' value rates (a money scale).
    public var gamma: Double

    /// Creates a model from known parameters.
    public init(p: Double, q: Double, gamma: Double) {
        self.p = p
        self.q = q
        self.gamma = gamma
    }

    static let name = "Gamma-Gamma"

    /// Maximum-likelihood fit on the repeat buyers' (frequency, mean repeat spend).
    ///
    /// Customers without repeat purchases or without a positive `monetaryValue` are skipped;
    /// ``Fit/customerCount`` is the number used.
    public static func fit(
        _ customers: some Sequence<RFMSummary>,
        startingAt start: GammaGamma = GammaGamma(p: 1, q: 1, gamma: 1),
        options: FitOptions = FitOptions()
    ) throws(FitError) -> Fit<GammaGamma> {
        let likelihood = GammaGammaLikelihood(customers)
        guard likelihood.customerCount >= 3 else {
            throw .insufficientData(model: name, reason: "\(likelihood.customerCount) repeat buyers with spend for 3 parameters")
        }
        let scale = -1 / Double(likelihood.customerCount)
        let optimizer = QuasiNewton(model: name, parameterNames: ["p", "q", "gamma"], options: options)
        let result = try optimizer.minimize(from: [log(start.p), log(start.q), log(start.gamma)]) { theta, gradient in
            let model = GammaGamma(p: exp(theta[0]), q: exp(theta[1]), gamma: exp(theta[2]))
            let (value, g) = likelihood.evaluate(model)
            gradient[0] = scale * g[0] * model.p
            gradient[1] = scale * g[1] * model.q
            gradient[2] = scale * g[2] * model.gamma
            return scale * value
        }
        let model = GammaGamma(p: exp(result.theta[0]), q: exp(result.theta[1]), gamma: exp(result.theta[2]))
        return Fit(
            model: model, logLikelihood: result.value / scale, iterations: result.iterations,
            customerCount: likelihood.customerCount, converged: true, gradientNorm: result.gradientNorm
        )
    }

    /// Log-likelihood of the repeat buyers' mean spends under these parameters.
    public func logLikelihood(_ customers: some Sequence<RFMSummary>) -> Double {
        GammaGammaLikelihood(customers).evaluate(self).value
    }

    /// Gradient of ``logLikelihood(_:)`` with respect to (p, q, gamma).
    public func logLikelihoodGradient(_ customers: some Sequence<RFMSummary>) -> [Double] {
        GammaGammaLikelihood(customers).evaluate(self).gradient
    }

    /// Mean spend per purchase over the population, pγ/(q − 1); infinite when q ≤ 1.
    public var populationAverageSpend: Double {
        q > 1 ? p * gamma / (q - 1) : .infinity
    }

    /// E(M | x, mₓ) = p(γ + x·mₓ)/(px + q − 1): a weighted mean of the population mean and the
    /// customer's own mean spend.
    ///
    /// Falls back to ``populationAverageSpend`` without repeat purchases or a known spend.
    public func expectedAverageSpend(frequency: Int, monetaryValue: Double?) -> Double {
        guard frequency > 0, let m = monetaryValue else { return populationAverageSpend }
        let x = Double(frequency)
        return p * (gamma + x * m) / (p * x + q - 1)
    }
}

/// Gamma-Gamma log-likelihood with per-customer constants precomputed and digammas per
/// distinct frequency.
///
/// Per customer, log L = ln Γ(px+q) − ln Γ(px) − ln Γ(q) − ln mₓ − px·log1p(γ/(x mₓ))
/// − q·log1p(x mₓ/γ): the textbook form's q ln γ + px ln(x mₓ) − (px+q) ln(γ + x mₓ) cancels
/// catastrophically when summed over many customers, leaving noise in the likelihood that
/// stalls the line search.
struct GammaGammaLikelihood {
    var frequencies: [Double] = []
    var frequencyCounts: [Double] = []
    var customerFrequency: [Int] = []
    var totalSpend: [Double] = []  // x · mₓ
    var constantPart = 0.0  // Σ −log mₓ
    var customerCount: Int { customerFrequency.count }

    init(_ customers: some Sequence<RFMSummary>) {
        var index: [Int: Int] = [:]
        for c in customers where c.frequency > 0 {
            guard let m = c.monetaryValue, m > 0, m.isFinite else { continue }
            let x = Double(c.frequency)
            let i: Int
            if let known = index[c.frequency] {
                i = known
            } else {
                i = frequencies.count
                index[c.frequency] = i
                frequencies.append(x)
                frequencyCounts.append(0)
            }
            frequencyCounts[i] += 1
            customerFrequency.append(i)
            totalSpend.append(x * m)
            constantPart -= log(m)
        }
    }

    func evaluate(_ model: GammaGamma) -> (value: Double, gradient: [Double]) {
        let (p, q, gamma) = (model.p, model.q, model.gamma)
        let lgQ = logGamma(q), psiQ = digamma(q)
        var ll = constantPart
        var gp = 0.0, gq = 0.0, gGamma = 0.0
        for i in frequencies.indices {
            let x = frequencies[i], count = frequencyCounts[i]
            ll += count * (logGamma(p * x + q) - logGamma(p * x) - lgQ)
            let psiPXQ = digamma(p * x + q)
            gp += count * x * (psiPXQ - digamma(p * x))
            gq += count * (psiPXQ - psiQ)
        }
        for k in customerFrequency.indices {
            let x = frequencies[customerFrequency[k]]
            let spent = totalSpend[k]
            let towardsPopulation = log1p(gamma / spent)
            let towardsOwn = log1p(spent / gamma)
            ll -= p * x * towardsPopulation + q * towardsOwn
            gp -= x * towardsPopulation
            gq -= towardsOwn
            gGamma += (q * spent / gamma - p * x) / (gamma + spent)
        }
        return (ll, [gp, gq, gGamma])
    }
}
