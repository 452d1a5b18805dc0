import Foundation

// Special functions and numerical helpers shared by the models. All internal.

/// ln Γ(x) for x > 0, thread-safe (no `signgam`).
@inline(__always)
func logGamma(_ x: Double) -> Double {
    var sign: Int32 = 0
    return lgamma_r(x, &sign)
}

/// ψ(x) = d/dx ln Γ(x) for x > 0: recurrence up to x ≥ 10, then the asymptotic series.
func digamma(_ x: Double) -> Double {
    guard x > 0, x.isFinite else { return x == .infinity ? .infinity : .nan }
    var x = x
    var result = 0.0
    while x < 10 {
        result -= 1 / x
        x += 1
    }
    let f = 1 / (x * x)
    let series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132)))))
    return result + log(x) - 0.5 / x - series
}

/// log(1 + e^d) without overflow, and the logistic weight e^d / (1 + e^d) from the same exponential.
@inline(__always)
func softplusAndSigmoid(_ d: Double) -> (softplus: Double, sigmoid: Double) {
    let e = exp(-abs(d))
    let sp = max(d, 0) + log1p(e)
    let w = d > 0 ? 1 / (1 + e) : e / (1 + e)
    return (sp, w)
}

/// log(e^a + e^b), exact when either is -infinity.
@inline(__always)
func logAddExp(_ a: Double, _ b: Double) -> Double {
    if a == -.infinity { return b }
    if b == -.infinity { return a }
    let m = max(a, b)
    return m + log1p(exp(-abs(a - b)))
}

/// ln ₂F₁(a, b; a + 1; z) for a > 0, b > 0, 0 ≤ z < 1, the Pareto/NBD case.
///
/// Uses Euler's transformation ₂F₁(a, b; a+1; z) = (1−z)^(1−b) ₂F₁(1, a+1−b; a+1; z): the
/// transformed series has positive terms whose ratio stays below z, so it neither grows
/// (large b = r + x) nor cancels, and the tail after a term t is below t·z/(1−z).
func logHypergeometricPareto(a: Double, b: Double, z: Double) -> Double {
    guard z > 0 else { return z == 0 ? 0 : .nan }
    guard z < 1 else { return .nan }
    let c = a + 1 - b
    var term = 1.0
    var sum = 1.0
    let tailFactor = z / (1 - z)
    var n = 0.0
    while n < 2_000_000 {
        term *= (c + n) / (a + 1 + n) * z
        sum += term
        n += 1
        if term * tailFactor <= 1e-17 * sum { break }
    }
    if n >= 2_000_000 { return .nan }
    return (1 - b) * log1p(-z) + log(sum)
}

/// Σ_{n≥1} (c−a)_n (ε+1)_{n−1} / ((c)_n n!) zⁿ, the part of the Euler-transformed
/// ₂F₁(c−a, ε; c; z) = 1 + ε·G that remains after factoring out ε (BG/NBD expectation).
func bgnbdExpectationSeries(cMinusA: Double, epsilon: Double, c: Double, z: Double) -> Double {
    guard z > 0 else { return 0 }
    var term = cMinusA / c * z
    var sum = term
    var n = 1.0
    let tailFactor = z / (1 - z)
    while n < 2_000_000 {
        term *= (cMinusA + n) * (epsilon + n) / ((c + n) * (n + 1)) * z
        sum += term
        n += 1
        // Beyond n > |c−a|, |ε|, c the ratio is below z, so the tail is below |term|·z/(1−z).
        if n > abs(cMinusA) + abs(epsilon) + abs(c), abs(term) * tailFactor <= 1e-17 * (1 + abs(sum)) { break }
    }
    return n >= 2_000_000 ? .nan : sum
}

/// ∫ₐᵇ f by adaptive Simpson's rule to an absolute tolerance.
func integrate(from a: Double, to b: Double, tolerance: Double = 1e-12, _ f: (Double) -> Double) -> Double {
    func step(_ a: Double, _ b: Double, _ fa: Double, _ fm: Double, _ fb: Double, _ whole: Double, _ tol: Double, _ depth: Int) -> Double {
        let m = (a + b) / 2
        let lm = (a + m) / 2, rm = (m + b) / 2
        let flm = f(lm), frm = f(rm)
        let left = (m - a) / 6 * (fa + 4 * flm + fm)
        let right = (b - m) / 6 * (fm + 4 * frm + fb)
        let delta = left + right - whole
        if depth <= 0 || abs(delta) <= 15 * tol {
            return left + right + delta / 15
        }
        return step(a, m, fa, flm, fm, left, tol / 2, depth - 1) + step(m, b, fm, frm, fb, right, tol / 2, depth - 1)
    }
    guard b > a else { return 0 }
    let fa = f(a), fb = f(b), fm = f((a + b) / 2)
    let whole = (b - a) / 6 * (fa + 4 * fm + fb)
    return step(a, b, fa, fm, fb, whole, tolerance, 40)
}

@inline(__always)
func dot(_ u: [Double], _ v: [Double]) -> Double {
    var s = 0.0
    for i in u.indices { s += u[i] * v[i] }
    return s
}

@inline(__always)
func euclideanNorm(_ v: [Double]) -> Double { dot(v, v).squareRoot() }
