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
