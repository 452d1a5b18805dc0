import AftersaleCore
@testable import AftersaleReactor
import ShopSimulator
import Testing

/// A run split across shards (one engine per thread, customers dealt by a hash of their id) must
/// decide exactly what one engine decides: the same commands, states, clocks and co-purchase
/// counts, however the log is cut into stretches.
@Suite("The reactor on several threads")
struct ShardTests {
    @Test("shards give every customer the commands, state and clock one engine gives, and the same cross-sell counts",
          arguments: [2, 3, 5])
    func shardedEqualsOne(count: Int) throws {
        let simulation = ShopSimulation(SimulationConfiguration(seed: UInt64(40 + count), customers: 160))
        let validator = EventValidator(now: Timestamp(millis: 4_000_000_000_000))
        let events = try simulation.map { try validator.decode(line: $0) }
        var one = TickSkippingTests.engines().skipping
        var shards = ReactorShards(TickSkippingTests.engines().skipping, count: count)
        // Stretches of uneven length, with a cron run between some of them.
        var cuts = SimulationRandom(seed: UInt64(count))
        var start = 0
        while start < events.count {
            let end = min(events.count, start + 1 + Int(cuts.next() % 900))
            let stretch = Array(events[start..<end])
            for event in stretch { one.apply(event) }
            shards.apply(stretch)
            if cuts.next() % 3 == 0 {
                let at = stretch.last!.at.adding(millis: Int64(cuts.next() % UInt64(3 * Timestamp.millisPerDay)))
                one.advance(to: at)
                shards.advance(to: at)
            }
            start = end
        }
        let end = events.map(\.at).max()!.adding(millis: 120 * Timestamp.millisPerDay)
        one.advance(to: end)
        shards.advance(to: end)
        var merged = shards.merged()

        #expect(one.commandsByCustomer.values.joined().contains { $0.kind == .crossSell }, "cross-sell, which customers share, is exercised")
        let ids = Set(one.customers.keys).union(merged.customers.keys).sorted()
        let otherState = ids.filter { merged.customers[$0] != one.customers[$0] }
        #expect(otherState.isEmpty, "customers with another state or clock: \(otherState.prefix(10))")
        let otherCommands = ids.filter { merged.outbox(of: $0) != one.outbox(of: $0) }
        #expect(otherCommands.isEmpty, "customers with other commands: \(otherCommands.prefix(10))")
        #expect(merged.customers.count == one.customers.count)
        #expect(merged.commandCount == one.commandCount)
        #expect(merged.coPurchases == one.coPurchases)
        for id in one.commandsByCustomer.values.joined().map(\.id).prefix(500) {
            #expect(merged.command(id) == one.command(id))
        }
        let (a, b) = (merged.takeChanges(), one.takeChanges())
        #expect(a.commands == b.commands)
        #expect(a.customers == b.customers)
        #expect(a.coPurchasesChanged == b.coPurchasesChanged)
    }

    @Test("customers are dealt by a fixed hash of their id, across every shard")
    func dealing() {
        let ids = (0..<1000).map { "c-\($0)" }
        let counts = Dictionary(grouping: ids) { ReactorShards.shard(of: $0, among: 3) }.mapValues(\.count)
        #expect(counts.keys.sorted() == [0, 1, 2])
        #expect(counts.values.allSatisfy { $0 > 250 })
        #expect(ids.allSatisfy { ReactorShards.shard(of: $0, among: 1) == 0 })
        #expect(ReactorShards.shard(of: "c-42", among: 7) == ReactorShards.shard(of: "c-42", among: 7))
    }
}
