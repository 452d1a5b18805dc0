import Foundation

/// The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).
///
/// While active, a customer buys at Poisson rate λ ~ Gamma(shape `r`, rate `alpha`) and stays
/// active for an exponential lifetime with rate μ ~ Gamma(shape `s`, rate `beta`).
/// Expressions follow Fader & Hardie, "A Note on Deriving the Pareto/NBD Model and Related
/// Expressions" (2005).
public struct ParetoNBD: PurchaseModel, Hashable {
    /// Shape of the purchase-rate distribution.
    public var r: Double
    /// Rate (inverse scale) of the purchase-rate distribution, in the fitted time unit.
    public var alpha: Double
    /// Shape of the dropout-rate distribution.
    public var s: Double
    /// Rate (inverse scale) of the dropout-rate distribution, in the fitted time unit.
    public var beta: Double

    /// Creates a model from known parameters.
    public init(r: Double, alpha: Double, s: Double, beta: Double) {
        self.r = r
        self.alpha = alpha
        self.s = s
        self.beta = beta
    }

    static let name = "Pareto/NBD"
    static let parameterNames = ["r", "alpha", "s", "beta"]

    /// Maximum-likelihood fit by BFGS on the logs of the parameters.
    ///
    /// The gradient is by central finite differences (step 1e-5 in log-parameter space): the
    /// likelihood's ₂F₁ terms have no convenient closed-form derivatives in all four
    /// parameters at once. The truncation and rounding errors (about 1e-10 on the mean
    /// log-likelihood scale) are far below the default gradient tolerance.
    public static func fit(
        _ statistics: SufficientStatistics,
        startingAt start: ParetoNBD = ParetoNBD(r: 1, alpha: 1, s: 1, beta: 1),
        options: FitOptions = FitOptions()
    ) throws(FitError) -> Fit<ParetoNBD> {
        try statistics.requireFittable(model: name, parameters: 4)
        let scale = -1 / Double(statistics.customerCount)
        func value(_ theta: [Double]) -> Double {
            ParetoNBD(r: exp(theta[0]), alpha: exp(theta[1]), s: exp(theta[2]), beta: exp(theta[3]))
                .logLikelihood(statistics) * scale
        }
        let h = 1e-5
        let optimizer = QuasiNewton(model: name, parameterNames: parameterNames, options: options)
        let result = try optimizer.minimize(from: [log(start.r), log(start.alpha), log(start.s), log(start.beta)]) { theta, gradient in
            var probe = theta
            for i in 0..<4 {
                probe[i] = theta[i] + h
                let up = value(probe)
                probe[i] = theta[i] - h
                let down = value(probe)
                probe[i] = theta[i]
                gradient[i] = (up - down) / (2 * h)
            }
            return value(theta)
        }
        let theta = result.theta
        let model = ParetoNBD(r: exp(theta[0]), alpha: exp(theta[1]), s: exp(theta[2]), beta: exp(theta[3]))
        return Fit(
            model: model, logLikelihood: result.value / scale, iterations: result.iterations,
            customerCount: statistics.customerCount, converged: true, gradientNorm: result.gradientNorm
        )
    }

    /// Log-likelihood of the customers in `statistics` under these parameters.
    public func logLikelihood(_ statistics: SufficientStatistics) -> Double {
        let logAlpha = log(alpha), logBeta = log(beta), lgR = logGamma(r)
        var total = 0.0
        var lastFrequency = -1
        var perFrequency = 0.0
        for row in statistics.rows {
            if row.frequency != lastFrequency {
                lastFrequency = row.frequency
                let x = Double(row.frequency)
                perFrequency = logGamma(r + x) - lgR + r * logAlpha + s * logBeta
            }
            let (l1, l2) = logLikelihoodTerms(frequency: row.frequency, recency: row.recency, age: row.age)
            total += Double(row.count) * (perFrequency + logAddExp(l1, l2))
        }
        return total
    }

    /// The two terms of the likelihood's bracket, in logs: L1 for "still active at T", and
    /// L2 = log(s / (r+s+x) · A0) for "dropped out between the last purchase and T".
    private func logLikelihoodTerms(frequency: Int, recency: Double, age: Double) -> (Double, Double) {
        let x = Double(frequency)
        let l1 = -(r + x) * log(alpha + age) - s * log(beta + age)
        guard age > recency else { return (l1, -.infinity) }
        let shape = r + s + x
        // A0 with the usual swap so that the ₂F₁ argument lies in [0, 1).
        let larger: Double, hypergeometricB: Double, difference: Double
        if alpha >= beta {
            (larger, hypergeometricB, difference) = (alpha, s + 1, alpha - beta)
        } else {
            (larger, hypergeometricB, difference) = (beta, r + x, beta - alpha)
        }
        func logTerm(_ t: Double) -> Double {
            logHypergeometricPareto(a: shape, b: hypergeometricB, z: difference / (larger + t)) - shape * log(larger + t)
        }
        let atRecency = logTerm(recency), atAge = logTerm(age)
        guard atAge < atRecency else { return (l1, -.infinity) }
        let logA0 = atRecency + log(-expm1(atAge - atRecency))
        return (l1, log(s) - log(shape) + logA0)
    }

    /// P(alive) = 1 / (1 + s/(r+s+x) · (α+T)^(r+x) (β+T)^s · A0).
    public func probabilityAlive(_ customer: RFMSummary) -> Double {
        let (l1, l2) = logLikelihoodTerms(frequency: customer.frequency, recency: customer.recency, age: customer.age)
        return l2 == -.infinity ? 1 : 1 - softplusAndSigmoid(l2 - l1).sigmoid
    }

    /// Expected purchases in the next `duration`: P(alive) · (r+x)(β+T) / ((α+T)(s−1)) ·
    /// [1 − ((β+T)/(β+T+t))^(s−1)], with its limit at s = 1.
    public func expectedPurchases(in duration: Double, for customer: RFMSummary) -> Double {
        guard duration > 0 else { return 0 }
        let shape = r + Double(customer.frequency)
        let logGrowth = log1p(duration / (beta + customer.age))
        let k = s - 1
        let lifetimeFactor = k == 0 ? logGrowth : -expm1(-k * logGrowth) / k
        return probabilityAlive(customer) * shape * (beta + customer.age) / (alpha + customer.age) * lifetimeFactor
    }

    /// P(alive) · P(a purchase within `duration` | alive).
    ///
    /// Given active at T, λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T); writing
    /// g(u) = E[e^(−(λ+μ)u)], P(no purchase in t | alive) = 1 − ∫₀ᵗ (r+x)/(α+T+u) g(u) du,
    /// integrated numerically after substituting u = (α+T)(eʸ − 1).
    public func probabilityOfPurchase(within duration: Double, for customer: RFMSummary) -> Double {
        guard duration > 0 else { return 0 }
        return probabilityAlive(customer) * purchaseProbabilityGivenAlive(upToLog: log1p(duration / (alpha + customer.age)), customer)
    }

    private func purchaseProbabilityGivenAlive(upToLog yMax: Double, _ c: RFMSummary) -> Double {
        let shape = r + Double(c.frequency)
        let a = alpha + c.age, b = beta + c.age
        return integrate(from: 0, to: yMax, tolerance: 1e-11) { y in
            let u = a * expm1(y)
            return shape * exp(-shape * y - s * log1p(u / b))
        }
    }

    /// Median waiting time given active, solved by bisection; `Double.infinity` when an active
    /// customer's chance of ever buying again is at most one half (their lifetime may end first).
    public func medianTimeToNextPurchase(for customer: RFMSummary) -> Double {
        let shape = r + Double(customer.frequency)
        // Beyond y = 50/shape the integrand is below e^−50 of its start.
        let yEnd = 50 / shape
        guard purchaseProbabilityGivenAlive(upToLog: yEnd, customer) > 0.5 else { return .infinity }
        var lo = 0.0, hi = yEnd
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if purchaseProbabilityGivenAlive(upToLog: mid, customer) < 0.5 { lo = mid } else { hi = mid }
            if hi - lo < 1e-12 * max(1, hi) { break }
        }
        return (alpha + customer.age) * expm1((lo + hi) / 2)
    }
}
