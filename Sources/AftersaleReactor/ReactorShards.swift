public import AftersaleCore
internal import Dispatch

/// One engine's work split by customer across engines that run at once, and across passes over the
/// log that run one after another, deciding exactly what one engine over everyone decides.
///
/// A customer's state, clock, commands and forecasts are theirs alone, so each shard runs its
/// customers' events and ticks by itself. The one thing customers share is what cross-sell learns:
/// how many customers bought one SKU after another. A shard cannot learn that from its own
/// customers, so the first pass folds every customer's orders (the cheap fold, without plays) into
/// a `CoPurchaseFeed`: each order's co-purchase pairs with the log position that taught them. Every
/// shard counts all the pairs, in log order, before each of its events: its counts at an event are
/// those a single engine would have there, and so are its cross-sell picks. The `model.fitted`
/// events go to every shard.
///
/// Passes bound memory: a pass holds only its customers' states and commands, and a later pass
/// reads the log again with the feed the first one gathered. The caller writes each pass's engine
/// away before the next.
public struct ReactorShards: Sendable {
    private var shards: [ReactorEngine]
    /// Pairs gathered so far (all of them after the first pass).
    public private(set) var feed: CoPurchaseFeed
    /// Folds every customer while the first pass gathers the feed; nil once it is complete.
    private var learner: [String: CustomerState]?
    /// The same fold kept encoded (`CustomerStateBinaryCodec`), for the first of several passes:
    /// that pass holds every customer of the shop, and a state takes several times the memory in
    /// its folded form (a million customers' took gigabytes). Decoded and encoded again at each of
    /// their events; one pass holds its customers' states folded.
    private var packedLearner: [String: [UInt8]]?
    /// Where each shard is in the feed.
    private var cursors: [Int]
    private let pass: Int
    private let passes: Int

    /// Splits `engine` into `count` shards (at least one) for `pass` of `passes`: the engine should
    /// hold only that pass's customers (`pass(of:among:)`).
    /// - Parameters:
    ///   - feed: the pairs a first pass gathered, for a later pass; nil gathers them, folding from
    ///     `states` (each customer's state before the run), or from the engine's own customers.
    public init(_ engine: ReactorEngine, count: Int, pass: Int = 0, of passes: Int = 1, feed: CoPurchaseFeed? = nil,
                states: [String: CustomerState]? = nil) {
        let count = max(1, count)
        let passes = max(1, passes)
        shards = engine.split(into: count) { ReactorShards.shard(of: $0, among: count, passes: passes) }
        self.feed = feed ?? CoPurchaseFeed()
        if feed == nil {
            let start = states ?? engine.customers.mapValues(\.state)
            if passes > 1 { packedLearner = start.mapValues { CustomerStateBinaryCodec.encode($0) } } else { learner = start }
        }
        cursors = Array(repeating: 0, count: count)
        self.pass = pass
        self.passes = passes
    }

    /// A fixed hash (FNV-1a) of a customer's id, the same in every run.
    static func hash(_ customer: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in customer.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The pass a customer is run in.
    public static func pass(of customer: String, among passes: Int) -> Int {
        passes > 1 ? Int(hash(customer) % UInt64(passes)) : 0
    }

    /// The shard of its pass a customer belongs to.
    static func shard(of customer: String, among count: Int, passes: Int = 1) -> Int {
        count > 1 ? Int(hash(customer) / UInt64(max(1, passes)) % UInt64(count)) : 0
    }

    /// Applies a stretch of events in log order (`positions`: their log positions, increasing), as
    /// `ReactorEngine.apply` would one by one for this pass's customers.
    ///
    /// `through`: where the stretch of the log ends, when its last events are other passes' and
    /// were left out (a later pass need not decode them): every co-purchase pair up to there is
    /// counted, as if they had been applied.
    public mutating func apply(_ events: [Event], at positions: [Int64], through: Int64? = nil) {
        precondition(events.count == positions.count, "a position for each event")
        precondition((learner == nil && packedLearner == nil) || through == nil || through == positions.last, "the first pass folds every event")
        guard let end = through ?? positions.last else { return }
        let count = shards.count
        // Which shard runs each event: -1 for every shard (a new model), -2 for none (another pass's).
        var owners = [Int](repeating: -2, count: events.count)
        for (index, event) in events.enumerated() {
            if event.type == .modelFitted {
                owners[index] = -1
                continue
            }
            if ReactorShards.pass(of: event.customer, among: passes) == pass {
                owners[index] = ReactorShards.shard(of: event.customer, among: count, passes: passes)
            }
            if learner != nil || packedLearner != nil { learn(event, at: positions[index]) }
        }
        let work = Work(shards: shards)
        shards = []
        let (owner, feed, starts) = (owners, self.feed, cursors)
        var ends = cursors
        ends.withUnsafeMutableBufferPointer { ends in
            let ends = UnsafeSendable(ends)
            DispatchQueue.concurrentPerform(iterations: count) { s in
                var engine = work.take(s)
                var next = starts[s]
                for (index, event) in events.enumerated() where owner[index] == s || owner[index] == -1 {
                    // Every pair from an earlier event, whoever's it was.
                    next = feed.teach(&engine, from: next, before: positions[index])
                    engine.apply(event)
                }
                next = feed.teach(&engine, from: next, before: end + 1)
                ends.value[s] = next
                work.put(engine, at: s)
            }
        }
        cursors = ends
        shards = work.engines()
    }

    /// The first pass's fold: the same fold and the same pairs as `ReactorEngine.apply`.
    private mutating func learn(_ event: Event, at position: Int64) {
        switch event.type {
        case .modelFitted, .actionDispatched, .actionSuppressed, .privacyRequested: return
        default: break
        }
        guard event.customer != EventType.systemCustomer else { return }
        var state: CustomerState
        if packedLearner != nil {
            if let packed = packedLearner!.removeValue(forKey: event.customer) {
                do { state = try CustomerStateBinaryCodec.decode(packed) } catch {
                    preconditionFailure("a state the first pass encoded itself does not decode: \(error)")
                }
            } else {
                state = CustomerState(customer: event.customer)
            }
        } else {
            state = learner!.removeValue(forKey: event.customer) ?? CustomerState(customer: event.customer)
        }
        if event.type == .orderPlaced {
            let owned = state.ownedSKUs
            state.apply(event)
            for (previous, sku) in ReactorEngine.coPurchases(owned: owned, after: state, order: event.data["order"]?.stringValue) {
                feed.append(position: position, previous: previous, sku: sku)
            }
        } else {
            state.apply(event)
        }
        if packedLearner != nil { packedLearner![event.customer] = CustomerStateBinaryCodec.encode(state) } else { learner![event.customer] = state }
    }

    /// Judges every customer's time-based plays up to `now`, as `ReactorEngine.advance(to:)`.
    public mutating func advance(to now: Timestamp) {
        let work = Work(shards: shards)
        shards = []
        DispatchQueue.concurrentPerform(iterations: work.count) { s in
            var engine = work.take(s)
            engine.advance(to: now)
            work.put(engine, at: s)
        }
        shards = work.engines()
    }

    /// The shards as one engine again. The feed is complete once the log has been read: the
    /// first pass's fold is let go of.
    public mutating func merged() -> ReactorEngine {
        learner = nil
        packedLearner = nil
        return ReactorEngine.merge(shards)
    }
}

/// The co-purchase pairs a stretch of the log teaches, in log order, each with the position of the
/// order that taught it. SKUs are held once each and the pairs as numbers: a first run over a large
/// shop gathers millions.
public struct CoPurchaseFeed: Sendable {
    private var positions: [Int64] = []
    private var previous: [Int32] = []
    private var next: [Int32] = []
    private var skus: [String] = []
    private var numbers: [String: Int32] = [:]

    public init() {}

    /// How many pairs.
    public var count: Int { positions.count }

    mutating func append(position: Int64, previous: String, sku: String) {
        positions.append(position)
        self.previous.append(number(previous))
        next.append(number(sku))
    }

    private mutating func number(_ sku: String) -> Int32 {
        if let known = numbers[sku] { return known }
        let n = Int32(skus.count)
        skus.append(sku)
        numbers[sku] = n
        return n
    }

    /// Teaches `engine` the pairs from index `start` whose order came before `position`; returns
    /// where it stopped.
    func teach(_ engine: inout ReactorEngine, from start: Int, before position: Int64) -> Int {
        var i = start
        while i < positions.count, positions[i] < position {
            engine.learnCoPurchase(of: skus[Int(next[i])], after: skus[Int(previous[i])])
            i += 1
        }
        return i
    }
}

/// A value handed to the threads of one `concurrentPerform`, each touching its own part of it.
private struct UnsafeSendable<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// The shards while they run: each thread takes its own engine out and puts it back, so no two
/// threads ever touch one slot (an engine taken out is owned, not shared, while it runs).
private final class Work: @unchecked Sendable {
    // Raw memory, not an array property: threads writing their own slots of an array held by a
    // class would be overlapping accesses to that one property.
    private let slots: UnsafeMutableBufferPointer<ReactorEngine?>
    var count: Int { slots.count }

    init(shards: [ReactorEngine]) {
        slots = .allocate(capacity: shards.count)
        _ = slots.initialize(from: shards.map { Optional($0) })
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func take(_ s: Int) -> ReactorEngine {
        defer { slots[s] = nil }
        return slots[s]!
    }

    func put(_ engine: ReactorEngine, at s: Int) { slots[s] = engine }

    func engines() -> [ReactorEngine] { slots.map { $0! } }
}
