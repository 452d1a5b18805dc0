import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast, seeded generator for reproducible simulations.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    /// The generator's whole state.
    public private(set) var state: UInt64

    /// Creates a generator; equal seeds give equal sequences.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension RandomNumberGenerator {
    /// Uniform on the open interval (0, 1).
    mutating func openUnit() -> Double {
        (Double(next() >> 11) + 0.5) * 0x1p-53
    }

    mutating func standardNormal() -> Double {
        (-2 * log(openUnit())).squareRoot() * cos(2 * Double.pi * openUnit())
    }

    /// Gamma(shape, rate) by Marsaglia & Tsang (2000), boosted for shape < 1.
    mutating func gamma(shape: Double, rate: Double) -> Double {
        if shape < 1 {
            return gamma(shape: shape + 1, rate: rate) * pow(openUnit(), 1 / shape)
        }
        let d = shape - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double, v: Double
            repeat {
                x = standardNormal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = openUnit()
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) {
                return d * v / rate
            }
        }
    }

    mutating func beta(_ a: Double, _ b: Double) -> Double {
        let x = gamma(shape: a, rate: 1)
        let y = gamma(shape: b, rate: 1)
        return x / (x + y)
    }
}

extension BGNBD {
    /// Draws customers from this model and summarises them as real data would be.
    ///
    /// Each customer's first purchase falls on a day drawn uniformly from `firstPurchaseDays`;
    /// later purchases happen in continuous time (rates in `unit`) up to the age
    /// `calibrationEnd − first day`. Recency is rounded to whole days so that customers share
    /// sufficient statistics, but every purchase counts, even two on one day: merging them, as
    /// real data does, would bias the fitted parameters (by about 7% in alpha at CDNOW's values). Purchase
    /// values come from `spend` when given; otherwise `monetaryValue` is `nil`.
    /// Deterministic for a given `seed`.
    public func simulateCustomers(
        count: Int, firstPurchaseDays: Range<Int>, calibrationEnd: Int, unit: TimeUnit,
        spend: GammaGamma? = nil, seed: UInt64
    ) -> [RFMSummary] {
        var random = SplitMix64(seed: seed)
        var customers: [RFMSummary] = []
        customers.reserveCapacity(count)
        for _ in 0..<count {
            let firstDay = firstPurchaseDays.randomElement(using: &random)!
            let rate = random.gamma(shape: r, rate: alpha)
            let dropout = random.beta(a, b)
            let spendRate = spend.map { random.gamma(shape: $0.q, rate: $0.gamma) }
            let horizon = Double(calibrationEnd - firstDay) / unit.days
            var time = 0.0
            var lastDay = firstDay
            var occasions = 0
            var repeatValue = 0.0
            while true {
                time += -log(random.openUnit()) / rate
                guard time <= horizon else { break }
                let day = min(firstDay + Int((time * unit.days).rounded()), calibrationEnd)
                occasions += 1
                lastDay = day
                if let spend, let spendRate {
                    repeatValue += random.gamma(shape: spend.p, rate: spendRate)
                }
                if random.openUnit() < dropout { break }
            }
            customers.append(RFMSummary(
                frequency: occasions,
                recency: Double(lastDay - firstDay) / unit.days,
                age: Double(calibrationEnd - firstDay) / unit.days,
                monetaryValue: occasions > 0 && spend != nil ? repeatValue / Double(occasions) : nil
            ))
        }
        return customers
    }
}
