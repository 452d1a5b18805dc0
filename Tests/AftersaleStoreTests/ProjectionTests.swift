import AftersaleCore
import AftersaleStore
import ShopSimulator
import Testing

/// A simulated shop's events, with re-sent duplicates and some events delivered late (out of order).
func messyShopEvents(seed: UInt64, customers: Int) throws -> [EncodedEvent] {
    var configuration = SimulationConfiguration(seed: seed, customers: customers)
    configuration.days = 200
    let validator = EventValidator(now: Timestamp(millis: 4_102_444_800_000))
    var events = try ShopSimulation(configuration).map { EncodedEvent(try validator.decode(line: $0)) }
    var rng = SeededGenerator(seed: seed)
    // Webhooks retry: re-send about 5% of events later in the stream.
    for _ in 0..<(events.count / 20) {
        let i = Int(rng.next() % UInt64(events.count))
        events.insert(events[i], at: min(events.count, i + 1 + Int(rng.next() % 50)))
    }
    // Webhooks arrive out of order: swap neighbours now and then.
    for i in stride(from: 1, to: events.count, by: 7) where rng.next() % 3 == 0 { events.swapAt(i - 1, i) }
    return events
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct BatchSplit: Sendable, CustomStringConvertible {
    var seed: UInt64
    var sizes: [Int]
    /// Catch up by a rebuild whenever the backlog is most of the log (as a first import does).
    var viaRebuild = false
    var description: String { "seed \(seed), batches \(sizes)\(viaRebuild ? ", large backlogs by rebuild" : "")" }
}

@Suite("The customers projection")
struct ProjectionTests {
    @Test("incremental catch-up in any batch split gives exactly the read model a rebuild from 0 gives",
          arguments: [BatchSplit(seed: 1, sizes: [1, 7, 50]), BatchSplit(seed: 2, sizes: [3, 1000]), BatchSplit(seed: 3, sizes: [10_000]),
                      BatchSplit(seed: 4, sizes: [20, 500], viaRebuild: true)])
    func catchUpEqualsRebuild(split: BatchSplit) throws {
        let (seed, splits) = (split.seed, split.sizes)
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let projection = try CustomerProjection(log: log)
        let events = try messyShopEvents(seed: seed, customers: 90)
        #expect(events.count > 500)
        var rng = SeededGenerator(seed: seed)
        var index = 0
        var step = 0
        while index < events.count {
            // Append a chunk, then catch up with a batch size drawn from `splits`.
            let chunk = events[index..<min(index + 1 + Int(rng.next() % 300), events.count)]
            _ = try log.append(Array(chunk), recorded: testClock)
            try projection.catchUp(batchSize: splits[step % splits.count], rebuildThreshold: split.viaRebuild ? 1 : .max, chunkSize: 3)
            index += chunk.count
            step += 1
        }
        let incremental = try projection.allStates()
        #expect(try projection.checkpoint() == log.head())

        // Small chunks: many of them, folded by several workers and written in order.
        let stats = try projection.rebuild(clock: { 0 }, chunkSize: 7)
        let rebuilt = try projection.allStates()
        #expect(stats.events == (try log.head()))
        #expect(incremental.count == rebuilt.count && rebuilt.count > 0)
        #expect(incremental == rebuilt)
        #expect(rebuilt.contains { $0.orderCount > 1 } && rebuilt.contains { !$0.orders.values.filter { $0.cancelledAt != nil }.isEmpty })

        // And both equal a pure fold of the log in memory.
        var folded: [String: CustomerState] = [:]
        try log.read { recorded in folded[recorded.event.customer, default: CustomerState(customer: recorded.event.customer)].apply(recorded.event) }
        #expect(rebuilt == folded.values.sorted { $0.customer < $1.customer })
    }

    @Test("a customer's state survives the storage codec unchanged")
    func codecRoundTrip() throws {
        let events = try messyShopEvents(seed: 9, customers: 20)
        var states: [String: CustomerState] = [:]
        for e in events {
            let event = Event(id: e.id, type: e.type, customer: e.customer, at: e.at, schema: e.schema,
                              data: try JSONParser.parse(e.data).objectValue!)
            states[e.customer, default: CustomerState(customer: e.customer)].apply(event)
        }
        #expect(states.count == 20)
        for state in states.values {
            #expect(try CustomerStateCodec.decode(CustomerStateCodec.encode(state)) == state)
            let bytes = CustomerStateBinaryCodec.encode(state)
            #expect(try CustomerStateBinaryCodec.decode(bytes) == state)
            #expect(CustomerStateBinaryCodec.encode(try CustomerStateBinaryCodec.decode(bytes)) == bytes, "the same state is the same bytes")
            #expect(throws: BinaryDecodingError.self) { try CustomerStateBinaryCodec.decode(Array(bytes.dropLast())) }
        }
    }

    @Test("rebuilding keeps the live table readable until the swap, and catches events appended meanwhile")
    func rebuildAfterMoreEvents() throws {
        let scratch = Scratch()
        let log = try EventLog(path: scratch.path("log.db"))
        let projection = try CustomerProjection(log: log)
        _ = try log.append([event("a"), event("b", customer: "c-2")], recorded: testClock)
        try projection.catchUp()
        let reader = try CustomerProjection(log: EventLog(path: scratch.path("log.db")))
        #expect(try reader.customerCount() == 2)
        _ = try log.append([event("c", customer: "c-3")], recorded: testClock)
        _ = try projection.rebuild(clock: { 0 })
        #expect(try reader.customerCount() == 3)
        #expect(try reader.state(of: "c-1")?.orderCount == 1)
        #expect(try projection.checkpoint() == 3)
        #expect(try projection.catchUp() == 0)
    }
}
