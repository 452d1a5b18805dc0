import AftersaleCore
import AftersaleReactor
import BuyTillYouDie
import CustomerValue
import ShopSimulator
import Testing

/// The engine skips clock ticks before the policies' next wake. Skipping must change nothing: the
/// same commands, statuses and clocks as an engine that judges every tick, over a simulated shop
/// (customers in many time zones, birthdays, anniversaries, late parcels, lapses) with a model
/// whose forecasts change from period to period, run from cron at arbitrary hours.
@Suite("Skipping quiet ticks")
struct TickSkippingTests {
    /// A forecast that moves with time and history: P(alive) decays with the time since the last
    /// order, value grows with orders, the next order is expected a customer-specific gap after the last.
    static let forecaster: @Sendable (CustomerState, Timestamp) -> CustomerForecast? = { state, at in
        guard let last = state.lastOrderAt, let currency = state.primaryCurrency else { return nil }
        let days = Double(at.millis - last.millis) / Double(Timestamp.millisPerDay)
        let hash = state.customer.utf8.reduce(0) { $0 &+ Int($1) }
        // Half the customers have an expected next order (a lapse by the calendar), half only P(alive).
        let gap = Double(30 + hash % 200)
        let next = hash % 2 == 0 ? last.adding(millis: Int64(gap * Double(Timestamp.millisPerDay))) : nil
        return CustomerForecast(pAlive: max(0, 1 - days / (next == nil ? 50 : 150)), predictedCLV: Money(minorUnits: Int64(state.orderCount) * 9_000, currency: currency),
                                expectedNextOrderAt: next)
    }

    static func engines() -> (skipping: ReactorEngine, everyTick: ReactorEngine) {
        var skipping = ReactorEngine(configuration: ReactorConfiguration(), timeZoneOffset: ReactorContext.foundationOffset)
        skipping.forecaster = forecaster
        var everyTick = skipping
        everyTick.judgesEveryTick = true
        return (skipping, everyTick)
    }

    @Test("a simulated shop gets the same outbox and clocks whether quiet ticks are skipped or judged", arguments: [UInt64(7), 2024])
    func sameDecisions(seed: UInt64) throws {
        // Enough customers that some plays wake exactly on a tick (a daily tick on the first day of
        // a forecast period) and decide something there: with 120, a tick judging only the plays
        // woken before it went unnoticed.
        let simulation = ShopSimulation(SimulationConfiguration(seed: seed, customers: 300))
        let validator = EventValidator(now: Timestamp(millis: 4_000_000_000_000))
        let events = try simulation.map { try validator.decode(line: $0) }
        #expect(events.count > 1000)
        var (skipping, everyTick) = Self.engines()
        var runs = SimulationRandom(seed: seed)
        for event in events {
            skipping.apply(event)
            everyTick.apply(event)
            // A cron run now and then, at an hour of its own.
            if runs.next() % 97 == 0 {
                let at = event.at.adding(millis: Int64(runs.next() % UInt64(Timestamp.millisPerDay)))
                skipping.advance(to: at)
                everyTick.advance(to: at)
            }
        }
        let end = events.last!.at.adding(millis: 400 * Timestamp.millisPerDay)
        skipping.advance(to: end)
        everyTick.advance(to: end)
        #expect(skipping.commandCount > 500)
        let ids = Set(skipping.commandsByCustomer.values.joined().map(\.id)).union(everyTick.commandsByCustomer.values.joined().map(\.id))
        let differing = ids.filter { skipping.command($0) != everyTick.command($0) }.sorted()
        #expect(differing.isEmpty, "\(differing.count) commands differ, first \(differing.prefix(3))")
        let clocks = skipping.customers.keys.filter { skipping.customers[$0] != everyTick.customers[$0] }.sorted()
        #expect(clocks.isEmpty && skipping.customers.count == everyTick.customers.count, "customers differ: \(clocks.prefix(3))")
        let clockKinds = Set(skipping.commandsByCustomer.values.joined().filter { $0.trigger == "clock" }.map(\.kind))
        #expect(clockKinds.isSuperset(of: [.birthdayOffer, .anniversaryOffer, .winBack, .loyaltyReward]), "\(clockKinds)")
    }

    /// A fitted model's forecasts bound their CLV, and the VIP and win-back plays stop asking a
    /// customer whose bound stays under their threshold until that customer's next event. The
    /// shop must come out the same as with exact CLVs, no bounds, judged at every tick; the
    /// thresholds sit among the shop's values, so both sides of each are crowded.
    @Test("a model's bounds on CLV change no decision", arguments: [PurchaseModelKind.bgnbd, .paretonbd])
    func boundsChangeNothing(kind: PurchaseModelKind) throws {
        let parameters: [String: Double] = kind == .bgnbd ? ["r": 0.9, "alpha": 9, "a": 0.8, "b": 2.4] : ["r": 0.9, "alpha": 9, "s": 0.6, "beta": 12]
        let model = FittedModel(kind: kind, parameters: parameters, logLikelihood: -1, calibrationEnd: CivilDate(year: 2025, month: 1, day: 1),
                                unit: .week, customers: 300, repeatBuyers: 100, fingerprint: "test", spend: GammaGamma(p: 6, q: 4, gamma: 15),
                                currency: "EUR", iterations: 1)
        let bounded = try #require(ReactorEngine.forecaster(fromModelEvent: model.event()))
        var configuration = ReactorConfiguration()
        configuration.loyalty.vipMinPredictedCLV = MoneyTable(minorUnits: ["EUR": 12_000])
        configuration.winBack.minValue = MoneyTable(minorUnits: ["EUR": 9_000])
        var withBounds = ReactorEngine(configuration: configuration, timeZoneOffset: ReactorContext.foundationOffset)
        withBounds.forecaster = bounded
        var exact = withBounds
        exact.forecaster = { state, at in
            bounded(state, at).map {
                CustomerForecast(pAlive: $0.pAlive, predictedCLV: $0.predictedCLV, expectedNextOrderAt: $0.expectedNextOrderAt,
                                 repeatProbability: $0.repeatProbability)
            }
        }
        exact.judgesEveryTick = true
        let simulation = ShopSimulation(SimulationConfiguration(seed: 31, customers: 150))
        let validator = EventValidator(now: Timestamp(millis: 4_000_000_000_000))
        for line in simulation {
            let event = try validator.decode(line: line)
            withBounds.apply(event)
            exact.apply(event)
        }
        let end = Timestamp(millis: withBounds.customers.values.compactMap(\.clock?.millis).max()!).adding(millis: 500 * Timestamp.millisPerDay)
        withBounds.advance(to: end)
        exact.advance(to: end)
        let ids = Set(withBounds.commandsByCustomer.values.joined().map(\.id)).union(exact.commandsByCustomer.values.joined().map(\.id))
        let differing = ids.filter { withBounds.command($0) != exact.command($0) }.sorted()
        #expect(differing.isEmpty, "\(differing.count) commands differ, first \(differing.prefix(3))")
        let clock = withBounds.commandsByCustomer.values.joined().filter { $0.trigger == "clock" }
        let vip = clock.filter { $0.kind == .loyaltyReward }.count, winBacks = clock.filter { $0.kind == .winBack }.count
        #expect(vip >= 10 && winBacks >= 10, "\(vip) VIP treatments and \(winBacks) win-backs: too few to judge the thresholds")
        // What the bounds are for: customers the plays need not judge again as soon, so that a
        // later run loads fewer of them.
        var exactSkipping = exact
        exactSkipping.judgesEveryTick = false
        var later = 0, earlier = 0
        for (id, customer) in withBounds.customers {
            let bounded = withBounds.nextJudgedTick(of: customer), unbounded = exactSkipping.nextJudgedTick(of: exactSkipping.customers[id]!)
            if let unbounded, bounded.map({ $0 > unbounded }) ?? true { later += 1 }
            if let bounded, unbounded.map({ $0 > bounded }) ?? true { earlier += 1 }
        }
        #expect(later >= 50 && earlier == 0, "\(later) customers' next judged tick later with the bounds, \(earlier) earlier")
    }
}
