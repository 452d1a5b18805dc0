#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A seeded xoshiro256** generator whose state is expanded from a 64-bit seed with SplitMix64.
///
/// The output depends only on the seed, so a simulation seeded the same way replays exactly.
/// Distribution samplers (`gamma`, `beta`, `poisson`, ...) are written here rather than taken
/// from the standard library, whose algorithms may change between toolchains.
public struct SimulationRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Creates a generator from a seed.
    public init(seed: UInt64) {
        var splitMix = SplitMix64(state: seed)
        s0 = splitMix.next()
        s1 = splitMix.next()
        s2 = splitMix.next()
        s3 = splitMix.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 }
    }

    /// Creates an independent generator for one sub-stream, e.g. one customer's purchases.
    ///
    /// The three keys are hashed together with the seed, so streams for different keys do not overlap in practice.
    public init(seed: UInt64, stream a: UInt64, _ b: UInt64 = 0, _ c: UInt64 = 0) {
        var h = SplitMix64.mix(seed ^ 0x5851_F42D_4C95_7F2D)
        h = SplitMix64.mix(h ^ (a &* 0x9E37_79B9_7F4A_7C15))
        h = SplitMix64.mix(h ^ (b &* 0xC2B2_AE3D_27D4_EB4F))
        h = SplitMix64.mix(h ^ (c &* 0x1656_67B1_9E37_79F9))
        self.init(seed: h)
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}

/// SplitMix64: seeds xoshiro and hashes stream keys.
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SimulationRandom {
    /// A uniform double in [0, 1).
    @inline(__always)
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A uniform double in (0, 1]; safe to take the logarithm of.
    @inline(__always)
    public mutating func uniformPositive() -> Double {
        Double((next() >> 11) + 1) * 0x1p-53
    }

    /// A uniform double in the closed range (the upper bound is reached only up to rounding).
    @inline(__always)
    public mutating func uniform(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * uniform()
    }

    /// A uniform integer in `0..<bound`; `bound` must be positive.
    @inline(__always)
    public mutating func integer(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// True with the given probability.
    @inline(__always)
    public mutating func bernoulli(_ probability: Double) -> Bool {
        uniform() < probability
    }

    /// An exponential draw with the given rate (mean `1 / rate`); infinity when the rate is not positive.
    public mutating func exponential(rate: Double) -> Double {
        guard rate > 0 else { return .infinity }
        return -log(uniformPositive()) / rate
    }

    /// A standard normal draw (Marsaglia's polar method).
    public mutating func normal() -> Double {
        while true {
            let u = 2 * uniform() - 1
            let v = 2 * uniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                return u * (-2 * log(s) / s).squareRoot()
            }
        }
    }

    /// A Gamma draw with the given shape and rate (mean `shape / rate`), by Marsaglia and Tsang.
    ///
    /// Shapes below one use the boost `Gamma(shape + 1) * U^(1/shape)`.
    public mutating func gamma(shape: Double, rate: Double) -> Double {
        precondition(shape > 0 && rate > 0, "gamma needs positive shape and rate")
        if shape < 1 {
            let boosted = gamma(shape: shape + 1, rate: 1)
            return boosted * pow(uniformPositive(), 1 / shape) / rate
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double
            var v: Double
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniformPositive()
            let x2 = x * x
            if u < 1 - 0.0331 * x2 * x2 { return d * v / rate }
            if log(u) < 0.5 * x2 + d * (1 - v + log(v)) { return d * v / rate }
        }
    }

    /// A Beta(a, b) draw, as `X / (X + Y)` with X ~ Gamma(a), Y ~ Gamma(b).
    public mutating func beta(_ a: Double, _ b: Double) -> Double {
        let x = gamma(shape: a, rate: 1)
        let y = gamma(shape: b, rate: 1)
        let sum = x + y
        return sum > 0 ? x / sum : a / (a + b)
    }

    /// A Poisson draw: Knuth's product method below mean 30, Hörmann's PTRS above.
    public mutating func poisson(mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        if mean < 30 {
            let limit = exp(-mean)
            var product = uniform()
            var count = 0
            while product > limit {
                product *= uniform()
                count += 1
            }
            return count
        }
        let slam = mean.squareRoot()
        let loglam = log(mean)
        let b = 0.931 + 2.53 * slam
        let a = -0.059 + 0.02483 * b
        let invAlpha = 1.1239 + 1.1328 / (b - 3.4)
        let vr = 0.9277 - 3.6224 / (b - 2)
        while true {
            let u = uniform() - 0.5
            let v = uniform()
            let us = 0.5 - abs(u)
            let k = ((2 * a / us + b) * u + mean + 0.43).rounded(.down)
            if us >= 0.07 && v <= vr { return Int(k) }
            if k < 0 || (us < 0.013 && v > us) { continue }
            if log(v) + log(invAlpha) - log(a / (us * us) + b) <= -mean + k * loglam - lgamma(k + 1) {
                return Int(k)
            }
        }
    }
}

/// A discrete distribution over `0..<weights.count`, sampled by binary search on cumulative weights.
public struct CategoricalDistribution: Sendable, Equatable {
    /// Cumulative weights, normalised so the last is 1.
    public let cumulative: [Double]

    /// Creates the distribution; weights must be non-negative with a positive sum.
    public init(weights: [Double]) {
        precondition(!weights.isEmpty && weights.allSatisfy { $0 >= 0 }, "weights must be non-negative")
        let total = weights.reduce(0, +)
        precondition(total > 0, "weights must have a positive sum")
        var running = 0.0
        var cumulative: [Double] = []
        cumulative.reserveCapacity(weights.count)
        for weight in weights {
            running += weight
            cumulative.append(running / total)
        }
        cumulative[cumulative.count - 1] = 1
        self.cumulative = cumulative
    }

    /// Draws an index.
    @inline(__always)
    public func sample(using random: inout SimulationRandom) -> Int {
        let u = random.uniform()
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let mid = (low + high) >> 1
            if cumulative[mid] > u { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
