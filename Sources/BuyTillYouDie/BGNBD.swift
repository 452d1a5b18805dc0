import Foundation

/// The beta-geometric/NBD model (Fader, Hardie & Lee 2005).
///
/// While active, a customer buys at Poisson rate λ ~ Gamma(shape `r`, rate `alpha`); after
/// each repeat purchase they drop out with probability p ~ Beta(`a`, `b`).
public struct BGNBD: PurchaseModel, Hashable {
    /// Shape of the purchase-rate distribution.
    public var r: Double
    /// Rate (inverse scale) of the purchase-rate distribution, in the fitted time unit.
    public var alpha: Double
    /// First shape of the dropout-probability distribution.
    public var a: Double
    /// Second shape of the dropout-probability distribution.
    public var b: Double

    /// Creates a model from known parameters.
    public init(r: Double, alpha: Double, a: Double, b: Double) {
        self.r = r
        self.alpha = alpha
        self.a = a
        self.b = b
    }

    static let name = "BG/NBD"
    static let parameterNames = ["r", "alpha", "a", "b"]

    /// Maximum-likelihood fit by BFGS on the logs of the parameters with the analytic gradient.
    public static func fit(
        _ statistics: SufficientStatistics,
        startingAt start: BGNBD = BGNBD(r: 1, alpha: 1, a: 1, b: 1),
        options: FitOptions = FitOptions()
    ) throws(FitError) -> Fit<BGNBD> {
        try statistics.requireFittable(model: name, parameters: 4)
        let likelihood = BGNBDLikelihood(statistics)
        let scale = -1 / Double(statistics.customerCount)
        let optimizer = QuasiNewton(model: name, parameterNames: parameterNames, options: options)
        let result = try optimizer.minimize(from: [log(start.r), log(start.alpha), log(start.a), log(start.b)]) { theta, gradient in
            let model = BGNBD(r: exp(theta[0]), alpha: exp(theta[1]), a: exp(theta[2]), b: exp(theta[3]))
            let (value, g) = likelihood.evaluate(model)
            gradient[0] = scale * g.r * model.r
            gradient[1] = scale * g.alpha * model.alpha
            gradient[2] = scale * g.a * model.a
            gradient[3] = scale * g.b * model.b
            return scale * value
        }
        let theta = result.theta
        let model = BGNBD(r: exp(theta[0]), alpha: exp(theta[1]), a: exp(theta[2]), b: exp(theta[3]))
        return Fit(
            model: model, logLikelihood: result.value / scale, iterations: result.iterations,
            customerCount: statistics.customerCount, converged: true, gradientNorm: result.gradientNorm
        )
    }

    /// Log-likelihood of the customers in `statistics` under these parameters.
    public func logLikelihood(_ statistics: SufficientStatistics) -> Double {
        BGNBDLikelihood(statistics).evaluate(self).value
    }

    /// Gradient of ``logLikelihood(_:)`` with respect to (r, alpha, a, b).
    public func logLikelihoodGradient(_ statistics: SufficientStatistics) -> [Double] {
        let g = BGNBDLikelihood(statistics).evaluate(self).gradient
        return [g.r, g.alpha, g.a, g.b]
    }

    /// Log of the odds the customer dropped out at their last purchase versus is still active.
    private func logDropoutOdds(_ c: RFMSummary) -> Double {
        guard c.frequency > 0 else { return -.infinity }
        let x = Double(c.frequency)
        return log(a) - log(b + x - 1) + (r + x) * (log(alpha + c.age) - log(alpha + c.recency))
    }

    /// P(alive) = 1 / (1 + a/(b+x−1) · ((α+T)/(α+tₓ))^(r+x)), and 1 without repeat purchases.
    public func probabilityAlive(_ customer: RFMSummary) -> Double {
        let d = logDropoutOdds(customer)
        return d == -.infinity ? 1 : 1 - softplusAndSigmoid(d).sigmoid
    }

    /// Expected purchases in the next `duration` (Fader, Hardie & Lee 2005, eq. 10).
    ///
    /// Computed through Euler's transformation of the ₂F₁ so that large frequencies neither
    /// overflow nor cancel, and a = 1 needs no special case. NaN when a + b + x ≤ 1, where the
    /// ₂F₁ has no convergent series (only possible for one-time buyers with a + b ≤ 1).
    public func expectedPurchases(in duration: Double, for customer: RFMSummary) -> Double {
        expectedPurchases(in: duration, for: customer, probabilityAlive: probabilityAlive(customer))
    }

    /// Every duration's from one P(alive): a forecast asks for twelve months of one customer.
    public func expectedPurchases(in durations: [Double], for customer: RFMSummary) -> [Double] {
        let alive = probabilityAlive(customer)
        return durations.map { expectedPurchases(in: $0, for: customer, probabilityAlive: alive) }
    }

    private func expectedPurchases(in duration: Double, for customer: RFMSummary, probabilityAlive alive: Double) -> Double {
        guard duration > 0 else { return 0 }
        let x = Double(customer.frequency)
        guard a + b + x > 1 else { return .nan }
        let z = duration / (alpha + customer.age + duration)
        let logOneMinusZ = log1p(-z)
        let epsilon = a - 1
        let c = a + b + x - 1
        let series = bgnbdExpectationSeries(cMinusA: a + b - 1 - r, epsilon: epsilon, c: c, z: z)
        let growth = epsilon == 0 ? logOneMinusZ : expm1(epsilon * logOneMinusZ) / epsilon
        let bracket = -growth - exp(epsilon * logOneMinusZ) * series
        return c * bracket * alive
    }

    /// P(alive) · (1 − ((α+T)/(α+T+t))^(r+x)): an active customer drops out only right after a purchase.
    public func probabilityOfPurchase(within duration: Double, for customer: RFMSummary) -> Double {
        guard duration > 0 else { return 0 }
        let shape = r + Double(customer.frequency)
        let noPurchase = exp(-shape * log1p(duration / (alpha + customer.age)))
        return probabilityAlive(customer) * (1 - noPurchase)
    }

    /// Median waiting time given active: (alpha + T)(2^(1/(r + x)) − 1), since an active
    /// customer's next purchase time is Pareto (Lomax) with shape r + x and scale alpha + T.
    public func medianTimeToNextPurchase(for customer: RFMSummary) -> Double {
        (alpha + customer.age) * expm1(log(2) / (r + Double(customer.frequency)))
    }
}

/// The BG/NBD log-likelihood over sufficient statistics, with everything that does not depend
/// on the parameters computed once: distinct frequencies, ages and recencies are tabulated so
/// each evaluation takes one logarithm per distinct value and one exp/log1p pair per row of
/// repeat buyers.
struct BGNBDLikelihood: Sendable {
    // Per distinct frequency (including 0): value and customers.
    var frequencies: [Double] = []
    var frequencyCounts: [Double] = []
    var ages: [Double] = []
    var recencies: [Double] = []
    // Non-repeat customers by age index.
    var oneTimeCountsByAge: [Double] = []
    // Repeat-buyer rows.
    var rowFrequency: [Int32] = []
    var rowAge: [Int32] = []
    var rowRecency: [Int32] = []
    var rowCount: [Double] = []

    init(_ statistics: SufficientStatistics) {
        var frequencyIndex: [Int: Int] = [:]
        var ageIndex: [UInt64: Int] = [:]
        var recencyIndex: [UInt64: Int] = [:]
        func index(_ value: Double, _ table: inout [UInt64: Int], _ values: inout [Double]) -> Int {
            if let i = table[value.bitPattern] { return i }
            table[value.bitPattern] = values.count
            values.append(value)
            return values.count - 1
        }
        for row in statistics.rows {
            let fi: Int
            if let i = frequencyIndex[row.frequency] {
                fi = i
            } else {
                fi = frequencies.count
                frequencyIndex[row.frequency] = fi
                frequencies.append(Double(row.frequency))
                frequencyCounts.append(0)
            }
            frequencyCounts[fi] += Double(row.count)
            let ai = index(row.age, &ageIndex, &ages)
            if oneTimeCountsByAge.count < ages.count { oneTimeCountsByAge.append(0) }
            if row.frequency == 0 {
                oneTimeCountsByAge[ai] += Double(row.count)
            } else {
                rowFrequency.append(Int32(fi))
                rowAge.append(Int32(ai))
                rowRecency.append(Int32(index(row.recency, &recencyIndex, &recencies)))
                rowCount.append(Double(row.count))
            }
        }
    }

    struct Gradient { var r = 0.0, alpha = 0.0, a = 0.0, b = 0.0 }

    func evaluate(_ m: BGNBD) -> (value: Double, gradient: Gradient) {
        let (r, alpha, a, b) = (m.r, m.alpha, m.a, m.b)
        var ll = 0.0
        var g = Gradient()
        let logAlpha = log(alpha)
        let lgR = logGamma(r), lgB = logGamma(b), lgAB = logGamma(a + b)
        let psiR = digamma(r), psiB = digamma(b), psiAB = digamma(a + b)

        // Terms that depend only on the frequency.
        var shape = [Double](repeating: 0, count: frequencies.count)  // r + x
        var logOddsBase = [Double](repeating: 0, count: frequencies.count)  // log a − log(b + x − 1)
        var inverseBX1 = [Double](repeating: 0, count: frequencies.count)  // 1 / (b + x − 1)
        for i in frequencies.indices {
            let x = frequencies[i], n = frequencyCounts[i]
            shape[i] = r + x
            ll += n * (r * logAlpha)
            g.r += n * logAlpha
            g.alpha += n * r / alpha
            if x > 0 {
                ll += n * (logGamma(r + x) - lgR + lgAB + logGamma(b + x) - lgB - logGamma(a + b + x))
                g.r += n * (digamma(r + x) - psiR)
                let psiABX = digamma(a + b + x)
                g.a += n * (psiAB - psiABX)
                g.b += n * (psiAB + digamma(b + x) - psiB - psiABX)
                logOddsBase[i] = log(a) - log(b + x - 1)
                inverseBX1[i] = 1 / (b + x - 1)
            }
        }
        // Terms that depend only on the age or the recency.
        let logAge = ages.map { log(alpha + $0) }
        let inverseAge = ages.map { 1 / (alpha + $0) }
        let logRecency = recencies.map { log(alpha + $0) }
        let inverseRecency = recencies.map { 1 / (alpha + $0) }

        for i in ages.indices where oneTimeCountsByAge[i] > 0 {
            let n = oneTimeCountsByAge[i]
            ll -= n * r * logAge[i]
            g.r -= n * logAge[i]
            g.alpha -= n * r * inverseAge[i]
        }

        var sumLL = 0.0, sumR = 0.0, sumAlpha = 0.0, sumW = 0.0, sumWB = 0.0
        rowFrequency.withUnsafeBufferPointer { fx in
            rowAge.withUnsafeBufferPointer { ta in
                rowRecency.withUnsafeBufferPointer { tr in
                    rowCount.withUnsafeBufferPointer { counts in
                        for k in 0..<counts.count {
                            let fi = Int(fx[k]), ai = Int(ta[k]), ri = Int(tr[k])
                            let n = counts[k]
                            let s = shape[fi]
                            let lT = logAge[ai], lt = logRecency[ri]
                            // log L_row = −(r+x) log(α+T) + log(1 + e^d), d = log-odds of dropout.
                            let d = logOddsBase[fi] + s * (lT - lt)
                            let (sp, w) = softplusAndSigmoid(d)
                            sumLL += n * (sp - s * lT)
                            sumR += n * (w * (lT - lt) - lT)
                            sumAlpha -= n * s * ((1 - w) * inverseAge[ai] + w * inverseRecency[ri])
                            sumW += n * w
                            sumWB += n * w * inverseBX1[fi]
                        }
                    }
                }
            }
        }
        ll += sumLL
        g.r += sumR
        g.alpha += sumAlpha
        g.a += sumW / a
        g.b -= sumWB
        return (ll, g)
    }
}
