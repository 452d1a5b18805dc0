import Foundation

/// How hard a maximum-likelihood fit tries before giving up.
public struct FitOptions: Sendable, Hashable {
    /// Quasi-Newton iterations allowed before the fit fails.
    public var maxIterations: Int
    /// Converged when the Euclidean norm of the gradient of the mean log-likelihood per
    /// customer, taken with respect to the logs of the parameters, is at most this.
    public var gradientTolerance: Double
    /// A parameter whose natural log leaves ±this bound has run off to 0 or infinity.
    public var logParameterBound: Double

    /// Creates options; the defaults suit the models here.
    public init(maxIterations: Int = 200, gradientTolerance: Double = 1e-8, logParameterBound: Double = 23) {
        self.maxIterations = maxIterations
        self.gradientTolerance = gradientTolerance
        self.logParameterBound = logParameterBound
    }
}

/// A fitted model with the facts about its fit.
public struct Fit<Model: Sendable>: Sendable {
    /// The maximum-likelihood parameters.
    public let model: Model
    /// Log-likelihood of the data at `model` (summed over customers).
    public let logLikelihood: Double
    /// Quasi-Newton iterations taken.
    public let iterations: Int
    /// Customers the fit used.
    public let customerCount: Int
    /// Always `true` for a returned fit: a fit that does not converge throws ``FitError``.
    public let converged: Bool
    /// Final gradient norm (see ``FitOptions/gradientTolerance``).
    public let gradientNorm: Double
}

/// Why a fit failed.
public enum FitError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The data cannot identify the model (e.g. no repeat buyers, fewer customers than parameters).
    case insufficientData(model: String, reason: String)
    /// The iteration cap was reached with the gradient still above tolerance.
    case didNotConverge(model: String, iterations: Int, gradientNorm: Double, tolerance: Double)
    /// The log-likelihood or its gradient was NaN or infinite.
    case nonFiniteLikelihood(model: String, iteration: Int)
    /// A parameter ran off towards 0 or infinity (the likelihood has no interior maximum).
    case parameterDiverged(model: String, parameter: String, value: Double, iteration: Int)
    /// No step along the search direction improved the likelihood.
    case lineSearchFailed(model: String, iteration: Int, gradientNorm: Double, tolerance: Double)

    /// The failure in words.
    public var description: String {
        switch self {
        case let .insufficientData(model, reason):
            return "\(model) cannot be fitted: \(reason)"
        case let .didNotConverge(model, iterations, norm, tolerance):
            return "\(model) did not converge after \(iterations) iterations: gradient norm \(scientific(norm)) > \(scientific(tolerance))"
        case let .nonFiniteLikelihood(model, iteration):
            return "\(model) log-likelihood or gradient became NaN or infinite at iteration \(iteration)"
        case let .parameterDiverged(model, parameter, value, iteration):
            let direction = value < 1 ? "0" : "infinity"
            return "\(model) did not converge: parameter \(parameter) ran off towards \(direction) (\(scientific(value))) at iteration \(iteration)"
        case let .lineSearchFailed(model, iteration, norm, tolerance):
            return "\(model) did not converge: no step improved the likelihood at iteration \(iteration), gradient norm \(scientific(norm)) > \(scientific(tolerance))"
        }
    }
}

private func scientific(_ value: Double) -> String {
    String(format: "%.1e", value)
}

/// BFGS on an objective in log-parameter space with a strong-Wolfe line search.
///
/// `objective(θ, &gradient)` returns the mean negative log-likelihood per customer and writes
/// its gradient with respect to θ = log(parameters).
struct QuasiNewton {
    var model: String
    var parameterNames: [String]
    var options: FitOptions

    struct Result {
        var theta: [Double]
        var value: Double
        var iterations: Int
        var gradientNorm: Double
    }

    func minimize(from start: [Double], _ objective: ([Double], inout [Double]) -> Double) throws(FitError) -> Result {
        let n = start.count
        var x = start
        var g = [Double](repeating: 0, count: n)
        var f = objective(x, &g)
        guard f.isFinite, g.allSatisfy(\.isFinite) else { throw .nonFiniteLikelihood(model: model, iteration: 0) }
        var h = identity(n)
        var hIsIdentity = true
        var iteration = 0
        var stalled = 0
        while true {
            let gNorm = euclideanNorm(g)
            if gNorm <= options.gradientTolerance {
                return Result(theta: x, value: f, iterations: iteration, gradientNorm: gNorm)
            }
            if iteration >= options.maxIterations {
                throw .didNotConverge(model: model, iterations: iteration, gradientNorm: gNorm, tolerance: options.gradientTolerance)
            }
            iteration += 1
            var p = multiply(h, g).map { -$0 }
            if dot(p, g) >= 0 {
                h = identity(n); hIsIdentity = true
                p = g.map { -$0 }
            }
            var step = lineSearch(x: x, f0: f, g0: g, direction: p, firstStep: hIsIdentity ? min(1, 1 / gNorm) : 1, objective)
            if step == nil, !hIsIdentity {
                // Forget the curvature model and retry along steepest descent.
                h = identity(n); hIsIdentity = true
                p = g.map { -$0 }
                step = lineSearch(x: x, f0: f, g0: g, direction: p, firstStep: min(1, 1 / gNorm), objective)
            }
            guard let (alpha, fNew, gNew) = step else {
                throw stuck(at: x, iteration: iteration, gradientNorm: gNorm)
            }
            let s = p.map { alpha * $0 }
            let y = (0..<n).map { gNew[$0] - g[$0] }
            let sy = dot(s, y)
            if sy > 1e-12 * euclideanNorm(s) * euclideanNorm(y) {
                if hIsIdentity {
                    let scale = sy / dot(y, y)
                    h = identity(n).map { $0.map { $0 * scale } }
                    hIsIdentity = false
                }
                bfgsUpdate(&h, s: s, y: y, sy: sy)
            }
            for i in 0..<n { x[i] += s[i] }
            // Steps that no longer lower the objective mean its floating-point noise floor is reached.
            stalled = fNew < f ? 0 : stalled + 1
            if stalled >= 5 {
                throw stuck(at: x, iteration: iteration, gradientNorm: euclideanNorm(gNew))
            }
            f = fNew
            g = gNew
            for i in 0..<n where abs(x[i]) > options.logParameterBound {
                throw .parameterDiverged(model: model, parameter: parameterNames[i], value: exp(x[i]), iteration: iteration)
            }
        }
    }

    /// The error for a search that can no longer improve: a flat likelihood with a parameter
    /// beyond e^±10 means that parameter is running off; otherwise the line search failed.
    private func stuck(at x: [Double], iteration: Int, gradientNorm: Double) -> FitError {
        if let i = x.indices.max(by: { abs(x[$0]) < abs(x[$1]) }), abs(x[i]) > 10 {
            return .parameterDiverged(model: model, parameter: parameterNames[i], value: exp(x[i]), iteration: iteration)
        }
        return .lineSearchFailed(model: model, iteration: iteration, gradientNorm: gradientNorm, tolerance: options.gradientTolerance)
    }

    /// Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6) with quadratic
    /// interpolation; a NaN or infinite trial value counts as "too far". A tiny slack of a
    /// few ulps of f in the sufficient-decrease test lets the search finish near the optimum,
    /// where f no longer changes in floating point but the gradient still guides the step.
    private func lineSearch(
        x: [Double], f0: Double, g0: [Double], direction p: [Double], firstStep: Double,
        _ objective: ([Double], inout [Double]) -> Double
    ) -> (Double, Double, [Double])? {
        let c1 = 1e-4, c2 = 0.9
        let d0 = dot(g0, p)
        let slack = 8 * Double.ulpOfOne * abs(f0)
        // Never move any log-parameter by more than 5 in one step.
        let maxStep = 5 / (p.map(abs).max() ?? 1)
        var g = [Double](repeating: 0, count: x.count)

        func evaluate(_ alpha: Double) -> (Double, Double, [Double]) {
            let trial = (0..<x.count).map { x[$0] + alpha * p[$0] }
            let f = objective(trial, &g)
            if !f.isFinite || !g.allSatisfy(\.isFinite) { return (.infinity, .nan, g) }
            return (f, dot(g, p), g)
        }
        func armijoFails(_ alpha: Double, _ f: Double) -> Bool { f > f0 + c1 * alpha * d0 + slack }

        func zoom(_ lo0: (Double, Double, Double, [Double]), _ hi0: (Double, Double, Double)) -> (Double, Double, [Double])? {
            var lo = lo0  // (alpha, f, slope, gradient)
            var hi = hi0  // (alpha, f, slope)
            for _ in 0..<40 {
                let width = hi.0 - lo.0
                var alpha = (lo.0 + hi.0) / 2
                if hi.1.isFinite {
                    let denominator = 2 * (hi.1 - lo.1 - lo.2 * width)
                    if denominator > 0 {
                        let candidate = lo.0 - lo.2 * width * width / denominator
                        let a = min(lo.0, hi.0), b = max(lo.0, hi.0)
                        if candidate > a + 0.1 * abs(width), candidate < b - 0.1 * abs(width) { alpha = candidate }
                    }
                }
                let (f, d, gTrial) = evaluate(alpha)
                if armijoFails(alpha, f) || f >= lo.1 + slack {
                    hi = (alpha, f, d)
                } else {
                    if abs(d) <= -c2 * d0 { return (alpha, f, gTrial) }
                    if d * (hi.0 - lo.0) >= 0 { hi = (lo.0, lo.1, lo.2) }
                    lo = (alpha, f, d, gTrial)
                }
                if abs(hi.0 - lo.0) <= 1e-15 * max(1, abs(lo.0)) { break }
            }
            return lo.0 > 0 ? (lo.0, lo.1, lo.3) : nil
        }

        var previous = (0.0, f0, d0, g0)
        var alpha = min(firstStep, maxStep)
        for i in 0..<40 {
            let (f, d, gTrial) = evaluate(alpha)
            if armijoFails(alpha, f) || (i > 0 && f >= previous.1) {
                return zoom(previous, (alpha, f, d))
            }
            if abs(d) <= -c2 * d0 { return (alpha, f, gTrial) }
            if d >= 0 { return zoom((alpha, f, d, gTrial), (previous.0, previous.1, previous.2)) }
            previous = (alpha, f, d, gTrial)
            if alpha >= maxStep { return (alpha, f, gTrial) }
            alpha = min(2 * alpha, maxStep)
        }
        return previous.0 > 0 ? (previous.0, previous.1, previous.3) : nil
    }
}

private func identity(_ n: Int) -> [[Double]] {
    (0..<n).map { i in (0..<n).map { $0 == i ? 1 : 0 } }
}

private func multiply(_ m: [[Double]], _ v: [Double]) -> [Double] {
    m.map { dot($0, v) }
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ with ρ = 1 / (yᵀs).
private func bfgsUpdate(_ h: inout [[Double]], s: [Double], y: [Double], sy: Double) {
    let n = s.count
    let rho = 1 / sy
    let hy = multiply(h, y)
    let yhy = dot(y, hy)
    for i in 0..<n {
        for j in 0..<n {
            h[i][j] += -rho * (s[i] * hy[j] + hy[i] * s[j]) + (rho * rho * yhy + rho) * s[i] * s[j]
        }
    }
}
