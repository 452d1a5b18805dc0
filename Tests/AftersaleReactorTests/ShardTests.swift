import AftersaleCore
@testable import AftersaleReactor
import ShopSimulator
import Testing

/// A run split across shards (one engine per thread, customers dealt by a hash of their id) must
/// decide exactly what one engine decides: the same commands, states, clocks and co-purchase
/// counts, however the log is cut into stretches.
@Suite("The reactor on several threads")
struct ShardTests {
    @Test("shards and passes give every customer the commands, state and clock one engine gives, and the same cross-sell counts",
          arguments: [(2, 1), (3, 1), (5, 1), (2, 3), (1, 4)])
    func shardedEqualsOne(count: Int, passes: Int) throws {
        let simulation = ShopSimulation(SimulationConfiguration(seed: UInt64(40 + count + passes), customers: 160))
        let validator = EventValidator(now: Timestamp(millis: 4_000_000_000_000))
        let events = try simulation.map { try validator.decode(line: $0) }
        // Stretches of uneven length, with a cron run after some of them.
        var cuts = SimulationRandom(seed: UInt64(count * 10 + passes))
        var stretches: [(range: Range<Int>, runAt: Timestamp?)] = []
        var start = 0
        while start < events.count {
            let end = min(events.count, start + 1 + Int(cuts.next() % 900))
            let runAt = cuts.next() % 3 == 0 ? events[end - 1].at.adding(millis: Int64(cuts.next() % UInt64(3 * Timestamp.millisPerDay))) : nil
            stretches.append((start..<end, runAt))
            start = end
        }
        let end = events.map(\.at).max()!.adding(millis: 120 * Timestamp.millisPerDay)
        var one = TickSkippingTests.engines().skipping
        for stretch in stretches {
            for event in events[stretch.range] { one.apply(event) }
            if let at = stretch.runAt { one.advance(to: at) }
        }
        one.advance(to: end)

        // Each pass reads the whole log again, with the pairs the first gathered.
        var feed: CoPurchaseFeed?
        var merged: [ReactorEngine] = []
        for pass in 0..<passes {
            var shards = ReactorShards(TickSkippingTests.engines().skipping, count: count, pass: pass, of: passes, feed: feed)
            for stretch in stretches {
                shards.apply(Array(events[stretch.range]), at: stretch.range.map { Int64($0 + 1) })
                if let at = stretch.runAt { shards.advance(to: at) }
            }
            shards.advance(to: end)
            merged.append(shards.merged())
            feed = shards.feed
        }
        #expect(feed!.count > 0)
        #expect(one.commandsByCustomer.values.joined().contains { $0.kind == .crossSell }, "cross-sell, which customers share, is exercised")
        var held = 0
        for id in one.customers.keys.sorted() {
            let pass = ReactorShards.pass(of: id, among: passes)
            #expect(merged[pass].customers[id] == one.customers[id], "\(id): the same state and clock")
            #expect(merged[pass].outbox(of: id) == one.outbox(of: id), "\(id): the same commands")
            if let first = one.outbox(of: id).first { #expect(merged[pass].command(first.id) == first) }
        }
        for (pass, engine) in merged.enumerated() {
            held += engine.customers.count
            #expect(engine.customers.keys.allSatisfy { ReactorShards.pass(of: $0, among: passes) == pass }, "a pass holds its own customers only")
            #expect(engine.coPurchases == one.coPurchases, "pass \(pass): the counts of the whole shop")
        }
        #expect(held == one.customers.count)
        #expect(merged.map(\.commandCount).reduce(0, +) == one.commandCount)
        if passes > 1 { #expect(merged.allSatisfy { $0.customers.count < one.customers.count }) }
    }

    @Test("customers are dealt by a fixed hash of their id, across every shard")
    func dealing() {
        let ids = (0..<1000).map { "c-\($0)" }
        let counts = Dictionary(grouping: ids) { ReactorShards.shard(of: $0, among: 3) }.mapValues(\.count)
        #expect(counts.keys.sorted() == [0, 1, 2])
        #expect(counts.values.allSatisfy { $0 > 250 })
        // Within a pass, its customers spread over every shard too.
        let inPass = ids.filter { ReactorShards.pass(of: $0, among: 4) == 1 }
        #expect(inPass.count > 200 && inPass.count < 300)
        #expect(Set(inPass.map { ReactorShards.shard(of: $0, among: 3, passes: 4) }) == [0, 1, 2])
        #expect(ids.allSatisfy { ReactorShards.shard(of: $0, among: 1) == 0 })
        #expect(ReactorShards.shard(of: "c-42", among: 7) == ReactorShards.shard(of: "c-42", among: 7))
    }
}

/// The first pass of a run in several passes keeps only a customer's owned SKUs and orders: each
/// order must teach the pairs the whole state teaches, whatever the order of placements and
/// cancellations.
@Suite("What the first pass keeps of a customer")
struct CoPurchaseBuyerTests {
    static func event(_ n: Int, _ type: EventType, _ data: KeyValuePairs<String, JSONValue>) -> Event {
        Event(id: "e-\(n)", type: type, customer: "c-1", at: Timestamp(millis: 1_700_000_000_000 + Int64(n) * 3_600_000),
              data: JSONObject(data))
    }

    static func placed(_ n: Int, _ order: JSONValue, _ skus: [String?]) -> Event {
        event(n, .orderPlaced, ["order": order, "total": .string("10.00"), "currency": .string("EUR"),
                                "lines": .array(skus.map { sku in
                                    .object(JSONObject(sku.map { ["sku": .string($0), "quantity": .integer(1)] } ?? ["quantity": .integer(1)]))
                                })])
    }

    static func cancelled(_ n: Int, _ order: String) -> Event { event(n, .orderCancelled, ["order": .string(order)]) }

    @Test("placements, repeats, cancellations before and after, lines without a SKU, SKUs sorted as text: the pairs of the whole state")
    func samePairsAsTheWholeState() {
        let events = [
            Self.placed(1, .string("o-1"), ["TEA-1", "MUG-1"]),
            Self.cancelled(2, "o-2"),
            Self.placed(3, .string("o-2"), ["KET-1"]),  // cancelled before it was placed: no purchase
            Self.placed(4, .string("o-3"), ["äpfel", "Zucker", "TEA-1", "Zucker", nil]),
            Self.placed(5, .string("o-3"), ["NEW-9"]),  // a second placement of one order
            Self.cancelled(6, "o-3"),
            Self.placed(7, .integer(4), ["NUM-1"]),  // no order id
            Self.placed(8, .string("o-4"), ["a-1", "B-2"]),
            Self.cancelled(9, "o-1"),
            Self.placed(10, .string("o-5"), ["KET-1", "MUG-1", "c-3"]),
            Self.event(11, .shipmentDelivered, ["order": .string("o-5")]),
            Self.placed(12, .string("o-6"), []),
        ]
        var state = CustomerState(customer: "c-1")
        var buyer = CoPurchaseBuyer()
        var taught = 0
        for (i, event) in events.enumerated() {
            let owned = state.ownedSKUs
            state.apply(event)
            let whole = ReactorEngine.coPurchases(owned: owned, after: state, order: event.data["order"]?.stringValue)
            let slim = OrderFact(event).map { buyer.learn($0) } ?? []
            #expect(slim.map { "\($0.previous)>\($0.sku)" } == whole.map { "\($0.previous)>\($0.sku)" }, "event \(i + 1)")
            taught += whole.count
            // Started from the state so far, as a run that begins after a checkpoint does.
            #expect(CoPurchaseBuyer(state).owned == buyer.owned, "event \(i + 1)")
            var resumed = CoPurchaseBuyer(state)
            if i + 1 < events.count, let next = OrderFact(events[i + 1]) {
                var again = buyer
                #expect(resumed.learn(next).map { "\($0.previous)>\($0.sku)" } == again.learn(next).map { "\($0.previous)>\($0.sku)" })
            }
        }
        #expect(taught > 10, "the events teach pairs")
        #expect(OrderFact(Self.event(13, .reviewPosted, ["review": .string("r-1")])) == nil)
    }
}
