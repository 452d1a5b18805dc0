/// Everything that determines a simulated shop; equal configurations give byte-identical output.
///
/// Rates are probabilities in 0...1; delays are uniform over the given ranges.
/// `ShopSimulation.init` checks the configuration with preconditions.
public struct SimulationConfiguration: Sendable, Equatable {
    /// Seed of every random stream.
    public var seed: UInt64 = 42
    /// Number of customers acquired over the acquisition window.
    public var customers: Int = 10_000
    /// Start of the simulated period, Unix seconds (default 2024-01-01T00:00:00Z).
    public var start: Int64 = 1_704_067_200
    /// Length of the period in days; no event is at or after `start + days * 86400`.
    public var days: Int = 730
    /// Share of the period over which first purchases are spread (the rest is observation).
    public var acquisitionFraction: Double = 0.25
    /// Stop after this many events (nil: run to the end of the period).
    public var maxEvents: Int? = nil
    /// ISO 4217 code written into orders and refunds (amounts always have two decimals).
    public var currency: String = "EUR"
    /// Prefix of event ids, which are `<prefix>-<n>` with n counting from 1; nil means `sim-<seed>`.
    public var eventIDPrefix: String? = nil
    /// Adds `"meta": {"source": "simulator"}` to every event.
    public var includeMeta: Bool = true
    /// BG/NBD purchase-process parameters.
    public var purchases = PurchaseParameters()
    /// Gamma-Gamma spend parameters.
    public var spend = SpendParameters()
    /// How orders are composed from the catalogue.
    public var basket = BasketParameters()
    /// Customer profiles and consent changes.
    public var profiles = ProfileParameters()
    /// When false, only `customer.registered` and `order.placed` are emitted (no fulfilment, returns,
    /// reviews, unboxings or profile updates); the purchases and baskets are unchanged.
    public var sideProcesses: Bool = true
    /// Cancellation and shipping.
    public var fulfilment = FulfilmentParameters()
    /// Unboxings, returns, reviews and replies.
    public var aftercare = AftercareParameters()

    /// The defaults: 10,000 customers over two years from 2024-01-01 with every side process on.
    public init() {}

    /// The defaults with a different seed and customer count.
    public init(seed: UInt64, customers: Int) {
        self.seed = seed
        self.customers = customers
    }

    /// A purchases-only shop for parameter recovery: only `customer.registered` and `order.placed`, no cancellations.
    public static func purchasesOnly(seed: UInt64 = 42, customers: Int = 10_000) -> SimulationConfiguration {
        var configuration = SimulationConfiguration(seed: seed, customers: customers)
        configuration.sideProcesses = false
        configuration.fulfilment.cancellationRate = 0
        configuration.profiles.consentUpdateRate = 0
        return configuration
    }

    /// The demo shop: 10,000 customers over two years with every side process on.
    public static func demo(seed: UInt64 = 42) -> SimulationConfiguration {
        SimulationConfiguration(seed: seed, customers: 10_000)
    }

    /// A full shop sized to produce at least `events` events, capped at exactly that many.
    ///
    /// The defaults produce about 11 events per customer over two years; this sizes the customer
    /// base (`events / 6`) for roughly twice the requested count, so the cap ends the stream early.
    public static func benchmark(events: Int, customers: Int? = nil, seed: UInt64 = 42) -> SimulationConfiguration {
        precondition(events > 0, "events must be positive")
        var configuration = SimulationConfiguration(seed: seed, customers: customers ?? Swift.max(100, events / 6))
        configuration.maxEvents = events
        return configuration
    }

    /// The first instant after the period, Unix seconds.
    public var end: Int64 { start + Int64(days) * CivilTime.secondsPerDay }
}

/// BG/NBD parameters: purchase rate λ ~ Gamma(r, α) per day, dropout probability p ~ Beta(a, b).
///
/// Defaults are the CDNOW estimates with α converted from weeks to days (4.414 × 7).
public struct PurchaseParameters: Sendable, Equatable {
    /// Gamma shape of the purchase rate.
    public var r: Double = 0.243
    /// Gamma rate of the purchase rate, in days.
    public var alpha: Double = 4.414 * 7
    /// First Beta parameter of the dropout probability.
    public var a: Double = 0.793
    /// Second Beta parameter of the dropout probability.
    public var b: Double = 2.426

    /// The CDNOW-like defaults.
    public init() {}

    /// Explicit parameters.
    public init(r: Double, alpha: Double, a: Double, b: Double) {
        self.r = r
        self.alpha = alpha
        self.a = a
        self.b = b
    }

    /// Population mean purchase rate per day, r / α.
    public var meanRate: Double { r / alpha }
    /// Population mean dropout probability, a / (a + b).
    public var meanDropout: Double { a / (a + b) }
}

/// Gamma-Gamma spend: ν ~ Gamma(q, γ) per customer, each order total z ~ Gamma(p, ν) in major units.
///
/// The emitted total is `z × scale` rounded once to cents (at least 0.01).
public struct SpendParameters: Sendable, Equatable {
    /// Gamma shape of each order's spend.
    public var p: Double = 6.25
    /// Gamma shape of the customer's spend rate ν.
    public var q: Double = 3.74
    /// Gamma rate of the customer's spend rate ν.
    public var gamma: Double = 15.44
    /// Multiplier applied to every drawn spend (1 keeps CDNOW dollars as euros).
    public var scale: Double = 1

    /// The CDNOW defaults.
    public init() {}

    /// Explicit parameters.
    public init(p: Double, q: Double, gamma: Double, scale: Double = 1) {
        self.p = p
        self.q = q
        self.gamma = gamma
        self.scale = scale
    }

    /// Population mean order total in major units, p γ / (q − 1) × scale (needs q > 1).
    public var meanSpend: Double { p * gamma / (q - 1) * scale }
}

/// How order lines are chosen from the catalogue.
public struct BasketParameters: Sendable, Equatable {
    /// Relative weights of 1, 2, 3, 4 lines per order (fewer when the budget runs out).
    public var lineCountWeights: [Double] = [0.55, 0.28, 0.12, 0.05]
    /// A repeat order's first line comes from the previous order's category with this probability.
    public var sameCategoryProbability: Double = 0.5
    /// ... or from a complementary category with this probability.
    public var complementProbability: Double = 0.3
    /// A first order's first line comes from the customer's home category with this probability.
    public var homeCategoryProbability: Double = 0.7
    /// A consumable due for replenishment is re-bought (same SKU) with this probability.
    public var replenishProbability: Double = 0.7
    /// Probability that a consumable line has quantity 2 instead of 1.
    public var doubleQuantityProbability: Double = 0.25

    /// The defaults.
    public init() {}
}

/// Customer profile details and later profile updates.
public struct ProfileParameters: Sendable, Equatable {
    /// Share of customers who give a birthday.
    public var birthdayRate: Double = 0.7
    /// Share of customers registering with email consent.
    public var emailConsentRate: Double = 0.8
    /// Share of customers registering with SMS consent.
    public var smsConsentRate: Double = 0.3
    /// Share of customers who later change their consent (`customer.updated`).
    public var consentUpdateRate: Double = 0.05
    /// Seconds between registration and the first order.
    public var registrationLeadSeconds: ClosedRange<Int> = 30...900

    /// The defaults.
    public init() {}
}

/// Cancellation, dispatch, failed and completed delivery.
public struct FulfilmentParameters: Sendable, Equatable {
    /// Share of orders cancelled (a cancelled order is never shipped).
    public var cancellationRate: Double = 0.02
    /// Hours from order to cancellation.
    public var cancellationDelayHours: ClosedRange<Double> = 0.1...6
    /// Days from order to dispatch.
    public var dispatchDelayDays: ClosedRange<Double> = 0.02...2
    /// Share of dispatched orders that never get a delivered event (manual fulfilment).
    public var manualFulfilmentRate: Double = 0.10
    /// Share of shipments with a failed delivery attempt (delivered later).
    public var failureRate: Double = 0.03
    /// Days from dispatch to the failed attempt.
    public var failureDelayDays: ClosedRange<Double> = 1...3
    /// Days from a failed attempt to delivery.
    public var redeliveryDelayDays: ClosedRange<Double> = 1...4
    /// Days from dispatch to delivery.
    public var deliveryDelayDays: ClosedRange<Double> = 1...5

    /// The defaults.
    public init() {}
}

/// What happens after delivery.
public struct AftercareParameters: Sendable, Equatable {
    /// Share of delivered orders with an unboxing.
    public var unboxingRate: Double = 0.05
    /// Share of unboxings shared on social media.
    public var unboxingSharedRate: Double = 0.6
    /// Days from delivery to unboxing.
    public var unboxingDelayDays: ClosedRange<Double> = 0.05...3
    /// Share of delivered orders with a return request.
    public var returnRate: Double = 0.08
    /// Days from delivery to the return request.
    public var returnDelayDays: ClosedRange<Double> = 2...20
    /// Share of returns refunded.
    public var refundRate: Double = 0.95
    /// Days from return request to refund.
    public var refundDelayDays: ClosedRange<Double> = 3...10
    /// Share of delivered line items reviewed.
    public var reviewRate: Double = 0.15
    /// Days from delivery to the review.
    public var reviewDelayDays: ClosedRange<Double> = 3...20
    /// Relative weights of ratings 1, 2, 3, 4, 5 (reviews and unboxings).
    public var ratingWeights: [Double] = [0.08, 0.07, 0.10, 0.25, 0.50]
    /// Share of reviews with text.
    public var reviewTextRate: Double = 0.7
    /// Share of reviews the shop replies to.
    public var replyRate: Double = 0.7
    /// Days from review to reply.
    public var replyDelayDays: ClosedRange<Double> = 0.01...3

    /// The defaults.
    public init() {}
}
