/// A simulated online shop with known buy-till-you-die truth, emitting its events as NDJSON.
///
/// Iterate it for one JSON line per event (without the newline), in nondecreasing `at` order;
/// use `ShopEventStream.appendNextLine(to:)` or `writeNDJSON(chunkBytes:to:)` for bytes.
/// Memory stays bounded by the customers active at one time, not by the number of events.
public struct ShopSimulation: Sequence, Sendable {
    /// The configuration the shop was built from.
    public let configuration: SimulationConfiguration
    /// The product catalogue.
    public var catalogue: Catalogue { tables.catalogue }

    let tables: SimulationTables

    /// Creates the shop; traps on an invalid configuration (see `SimulationConfiguration.problems`).
    public init(_ configuration: SimulationConfiguration = SimulationConfiguration()) {
        let problems = configuration.problems
        precondition(problems.isEmpty, "invalid simulation configuration: " + problems.joined(separator: "; "))
        self.configuration = configuration
        self.tables = SimulationTables(configuration: configuration)
    }

    /// A fresh stream of event lines from the beginning.
    public func makeIterator() -> ShopEventStream {
        ShopEventStream(tables: tables)
    }

    /// The known truth for one customer (number from 1 to `configuration.customers`).
    public func truth(forCustomer number: Int) -> CustomerTruth {
        precondition(number >= 1 && number <= configuration.customers, "customer number out of range")
        return PurchaseProcess.truth(number: number, configuration: configuration)
    }

    /// The known truth for every customer, in customer-number order.
    public func truths() -> [CustomerTruth] {
        guard configuration.customers > 0 else { return [] }
        return (1...configuration.customers).map { PurchaseProcess.truth(number: $0, configuration: configuration) }
    }

    /// The emitted id of a customer number, e.g. 42 -> `c-000042`.
    public func customerID(_ number: Int) -> String {
        CustomerIDs.string(number)
    }

    /// Streams all events as NDJSON bytes (each line ends in `\n`) in chunks of about `chunkBytes`.
    ///
    /// Chunks always end at a line boundary. Returns the number of events written.
    @discardableResult
    public func writeNDJSON(chunkBytes: Int = 1 << 20, to sink: ([UInt8]) throws -> Void) rethrows -> Int {
        var stream = makeIterator()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(chunkBytes + 4096)
        while stream.appendNextLine(to: &buffer) {
            if buffer.count >= chunkBytes {
                try sink(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { try sink(buffer) }
        return stream.emitted
    }
}

extension SimulationConfiguration {
    /// Human-readable reasons this configuration is invalid; empty when valid.
    public var problems: [String] {
        var problems: [String] = []
        func rate(_ value: Double, _ name: String) {
            if !(value >= 0 && value <= 1) { problems.append("\(name) must be in 0...1") }
        }
        func delay(_ range: ClosedRange<Double>, _ name: String) {
            if !(range.lowerBound >= 0 && range.upperBound.isFinite) { problems.append("\(name) must be finite and non-negative") }
        }
        if customers < 0 || customers > Int(UInt32.max) { problems.append("customers must be in 0...\(UInt32.max)") }
        if days < 1 { problems.append("days must be positive") }
        if start < 0 || end > 253_402_300_799 { problems.append("the period must lie in years 1970...9999") }
        if !(acquisitionFraction > 0 && acquisitionFraction <= 1) { problems.append("acquisitionFraction must be in (0, 1]") }
        if let maxEvents, maxEvents < 0 { problems.append("maxEvents must not be negative") }
        if currency.isEmpty { problems.append("currency must not be empty") }
        let positives = [
            ("purchases.r", purchases.r), ("purchases.alpha", purchases.alpha), ("purchases.a", purchases.a),
            ("purchases.b", purchases.b), ("spend.p", spend.p), ("spend.q", spend.q), ("spend.gamma", spend.gamma),
            ("spend.scale", spend.scale),
        ]
        for (name, value) in positives where !(value > 0 && value.isFinite) {
            problems.append("\(name) must be positive and finite")
        }
        if basket.lineCountWeights.count != 4 || !basket.lineCountWeights.allSatisfy({ $0 >= 0 })
            || basket.lineCountWeights.reduce(0, +) <= 0 {
            problems.append("basket.lineCountWeights needs 4 non-negative weights with a positive sum")
        }
        if aftercare.ratingWeights.count != 5 || !aftercare.ratingWeights.allSatisfy({ $0 >= 0 })
            || aftercare.ratingWeights.reduce(0, +) <= 0 {
            problems.append("aftercare.ratingWeights needs 5 non-negative weights with a positive sum")
        }
        if basket.sameCategoryProbability + basket.complementProbability > 1 {
            problems.append("basket.sameCategoryProbability + complementProbability must not exceed 1")
        }
        rate(basket.sameCategoryProbability, "basket.sameCategoryProbability")
        rate(basket.complementProbability, "basket.complementProbability")
        rate(basket.homeCategoryProbability, "basket.homeCategoryProbability")
        rate(basket.replenishProbability, "basket.replenishProbability")
        rate(basket.doubleQuantityProbability, "basket.doubleQuantityProbability")
        rate(profiles.birthdayRate, "profiles.birthdayRate")
        rate(profiles.emailConsentRate, "profiles.emailConsentRate")
        rate(profiles.smsConsentRate, "profiles.smsConsentRate")
        rate(profiles.consentUpdateRate, "profiles.consentUpdateRate")
        if profiles.registrationLeadSeconds.lowerBound < 0 { problems.append("profiles.registrationLeadSeconds must not be negative") }
        rate(fulfilment.cancellationRate, "fulfilment.cancellationRate")
        rate(fulfilment.manualFulfilmentRate, "fulfilment.manualFulfilmentRate")
        rate(fulfilment.failureRate, "fulfilment.failureRate")
        delay(fulfilment.cancellationDelayHours, "fulfilment.cancellationDelayHours")
        delay(fulfilment.dispatchDelayDays, "fulfilment.dispatchDelayDays")
        delay(fulfilment.failureDelayDays, "fulfilment.failureDelayDays")
        delay(fulfilment.redeliveryDelayDays, "fulfilment.redeliveryDelayDays")
        delay(fulfilment.deliveryDelayDays, "fulfilment.deliveryDelayDays")
        rate(aftercare.unboxingRate, "aftercare.unboxingRate")
        rate(aftercare.unboxingSharedRate, "aftercare.unboxingSharedRate")
        rate(aftercare.returnRate, "aftercare.returnRate")
        rate(aftercare.refundRate, "aftercare.refundRate")
        rate(aftercare.reviewRate, "aftercare.reviewRate")
        rate(aftercare.reviewTextRate, "aftercare.reviewTextRate")
        rate(aftercare.replyRate, "aftercare.replyRate")
        delay(aftercare.unboxingDelayDays, "aftercare.unboxingDelayDays")
        delay(aftercare.returnDelayDays, "aftercare.returnDelayDays")
        delay(aftercare.refundDelayDays, "aftercare.refundDelayDays")
        delay(aftercare.reviewDelayDays, "aftercare.reviewDelayDays")
        delay(aftercare.replyDelayDays, "aftercare.replyDelayDays")
        return problems
    }
}

/// Precomputed, immutable lookup data shared by all streams of one simulation.
final class SimulationTables: Sendable {
    let configuration: SimulationConfiguration
    let catalogue: Catalogue
    let skuJSON: [[UInt8]]
    let nameJSON: [[UInt8]]
    let categoryJSON: [[UInt8]]
    let categoryChoice: CategoricalDistribution
    let productChoice: [CategoricalDistribution]
    let lineCount: CategoricalDistribution
    let rating: CategoricalDistribution
    let timezone: CategoricalDistribution
    let social: CategoricalDistribution
    let idPrefix: [UInt8]
    let currencyJSON: [UInt8]
    let end: Int64
    /// An upper bound on the bytes of one rendered line.
    let maximumLineBytes: Int

    init(configuration: SimulationConfiguration) {
        self.configuration = configuration
        let catalogue = Catalogue.standard
        self.catalogue = catalogue
        func json(_ text: String) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.writeJSONString(text)
            return bytes
        }
        skuJSON = catalogue.products.map { json($0.sku) }
        nameJSON = catalogue.products.map { json($0.name) }
        categoryJSON = catalogue.categories.map { json($0.name) }
        categoryChoice = CategoricalDistribution(weights: catalogue.categories.map(\.popularity))
        productChoice = catalogue.productsByCategory.map { products in
            CategoricalDistribution(weights: products.indices.map { 1 / Double($0 + 1).squareRoot() })
        }
        lineCount = CategoricalDistribution(weights: configuration.basket.lineCountWeights)
        rating = CategoricalDistribution(weights: configuration.aftercare.ratingWeights)
        timezone = CategoricalDistribution(weights: ProfileData.timezoneWeights)
        social = CategoricalDistribution(weights: ProfileData.socialWeights)
        var prefix: [UInt8] = []
        // The prefix sits inside a JSON string: escape it, then drop the quotes.
        prefix.writeJSONString(configuration.eventIDPrefix ?? "sim-\(configuration.seed)")
        idPrefix = Array(prefix.dropFirst().dropLast())
        currencyJSON = json(configuration.currency)
        end = configuration.end
        maximumLineBytes = 4096 + idPrefix.count + 2 * currencyJSON.count
    }
}
