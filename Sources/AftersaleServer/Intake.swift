import AftersaleCore
public import AftersaleStore
public import AftersaleSources
public import AftersaleSQLite
import Foundation
public import Logging

/// One thing a request hands the intake: an event to append (perhaps only if its customer is
/// known, or unknown), or input to keep as rejected.
public enum IntakeItem: Sendable {
    case event(EncodedEvent, condition: MappedEvent.Condition)
    case rejected(RejectedInput)
}

/// What became of one item, once committed.
public enum IntakeOutcome: Sendable, Equatable {
    case appended(position: Int64)
    case duplicate(position: Int64)
    case conflict(position: Int64)
    /// Its condition did not hold (a `customer.registered` for a customer the log has).
    case skipped
    /// Kept as rejected under this number.
    case rejected(reject: Int64)
}

/// The intake's commit failed: nothing of the request was committed; the client may send it again.
public struct IntakeUnavailable: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The single writer of events: requests queue their items, and one thread commits everything
/// queued in one transaction (group commit), then answers every request of the group.
///
/// SQLite has one writer at a time, and a durable commit costs a sync: a commit per request would
/// cap throughput at the disk's syncs per second. Here a commit takes whatever arrived while the
/// previous one was syncing, so more concurrent requests make larger groups, not a longer queue.
/// A request is answered only after its group is committed (`synchronous=FULL`): a 2xx means the
/// events are in the log.
public final class Intake: @unchecked Sendable {
    private struct Submission {
        var items: [IntakeItem]
        var continuation: CheckedContinuation<[IntakeOutcome], any Error>
    }

    private let path: String
    private let clock: any ServerClock
    private let condition = NSCondition()
    /// Submissions as they came, for the sealer.
    private var queue: [Submission] = []
    /// Submissions whose personal data is sealed, for the writer.
    private var ready: [Submission] = []
    private var stopping = false
    /// The sealer holds a group taken from `queue` and not yet in `ready`.
    private var sealing = false
    /// The sealer has handed the writer everything it will.
    private var sealerDone = false
    private var thread: Thread?
    private let stopped = DispatchSemaphore(value: 0)
    /// At most this many items in one commit (a group of a few thousand keeps each commit short).
    public var maxItemsPerCommit = 20_000
    /// Under a stream of requests, a commit begins at least this long after the last one that
    /// appended events ended (`lastCommitEnded`, which also tells the engine how busy the intake is), so
    /// the requests that arrive meanwhile share it (0: each commit takes what is ready at once). A
    /// commit writes each page it touches to the WAL whole (the end of the events table and its
    /// indexes, the streams of new customers, the log's settings), whether it holds one request or
    /// twenty: fewer, larger commits write fewer bytes for the same events. A request after a quiet
    /// spell (the last commit ended longer ago than this) is committed at once.
    public var commitDelaySeconds: Double {
        get { condition.withLock { commitDelay } }
        set { condition.withLock { commitDelay = newValue } }
    }
    /// The commit delay ends once this many requests are ready: requests sent back to back (a
    /// load that fills the machine, its connections each waiting for an answer) already share
    /// commits, 11-19 a commit in the load set, and waiting for more only left the writer idle;
    /// a steady stream of 2,000-4,000 a second gathers 1-3 in the time of a commit.
    public var commitDelayEndsAtRequests = 8
    /// ... or once the ready requests hold this many events: a commit of hundreds of events already
    /// spreads its pages over them, and a few connections sending large batches back to back (a
    /// backfill) would otherwise wait out the delay after every commit (the load set's batches of
    /// 500 on 4 connections lost 4-19% of their rate in two pairs; `tools/results/serve-load.md`).
    public var commitDelayEndsAtItems = 500
    /// Requests a commit gathers on purpose: under a commit delay, up to `commitDelayEndsAtRequests`;
    /// none without one. A reader of the commits' sizes counts a queue only beyond them.
    public var requestsGatheredPerCommit: Int { condition.withLock { commitDelay > 0 ? commitDelayEndsAtRequests : 0 } }
    /// `commitDelaySeconds`, read by the writer under the condition's lock.
    private var commitDelay = 0.0
    private var committedHead: Int64 = 0
    /// When the last commit that appended ended (uptime, nanoseconds; 0 before any).
    private var lastCommitEnded: UInt64 = 0
    /// Seconds since the last commit that appended events (infinity before any): how busy the intake is.
    public var secondsSinceLastCommit: Double {
        let ended = condition.withLock { lastCommitEnded }
        guard ended > 0 else { return .infinity }
        return Double(DispatchTime.now().uptimeNanoseconds &- ended) / 1e9
    }
    /// Commits the writer has made, and the requests they answered, since it started.
    private var groupsTaken: UInt64 = 0
    private var requestsTaken: UInt64 = 0
    /// How many commits the writer has made and how many requests they answered, as running
    /// totals: read twice, how many requests a commit took in between. At a shop's pace a commit
    /// takes the one request that came; when requests come faster than the writer commits them
    /// they queue, and each commit takes many at once (group commit).
    public var groupTotals: (commits: UInt64, requests: UInt64) { condition.withLock { (groupsTaken, requestsTaken) } }
    /// The position of the last event this intake appended (0 before any).
    public var lastAppended: Int64 { condition.withLock { committedHead } }
    /// Called on the writer thread after each commit that appended events.
    public var onCommit: (@Sendable (_ appended: Int) -> Void)?
    /// Called after each commit with the counts of its outcomes (metrics).
    public var onOutcomes: (@Sendable (_ outcomes: [IntakeOutcome]) -> Void)?

    /// The connection's page cache, MiB (see `ServerSettings.cacheMebibytesPerConnection`).
    public var cacheMebibytes = 64
    /// Shared with the service's other writers (see `WriterTurns`).
    public var writerTurns: WriterTurns?
    /// The events' facts are held across commits and stored together (`holdFactsAcrossAppends`):
    /// once this many are held, after the group that reached it is answered, or when no request has
    /// come for `idleSecondsBeforeStoringFacts`.
    /// 0: each commit stores its events' facts.
    public var factsHeldAtMost = 50_000
    public var idleSecondsBeforeStoringFacts = 0.05
    /// The customers whose stream heads the intake keeps in memory (see `EventLog.maxCachedStreams`).
    public var streamHeadsCached = 50_000
    /// Where the intake posts the facts it holds, for the engine's projection (see `HeldFactsBoard`).
    public var heldFactsBoard: HeldFactsBoard?
    /// Says when held facts are stored (debug) or cannot be (error).
    public var logger: Logger?
    /// The customers of the orders committed since held facts were last stored, kept with them and
    /// for the same reason: `order_customers` is keyed by order, a page rewritten per order. After
    /// a kill they are not lost: each start remembers every order placed since the previous start
    /// (`rememberOrdersInLog`). Only the writer thread uses it.
    private var heldOrders: [String: String] = [:]

    public init(path: String, clock: any ServerClock) {
        self.path = path
        self.clock = clock
    }

    /// Opens the log (creating the file when missing) and starts the writer thread.
    public func start() throws {
        let log = try EventLog.openForService(path: path, cacheMebibytes: cacheMebibytes, writerTurns: writerTurns)
        // Durable acknowledgement: a commit is synced before its requests are answered. Group
        // commit keeps the cost of the sync per group, not per event.
        try log.setDurableCommits()
        // Orders that came in before (ingested files, an earlier version): their customers, so
        // webhooks naming only the order are attributed.
        try log.rememberOrdersInLog()
        // Each commit stored its events' facts at random keys of `stream_facts`, a page rewritten per
        // customer: most of what a commit wrote once the table outgrew the cache. Twice the bound:
        // the writer stores them itself first, outside a request's commit.
        if factsHeldAtMost > 0 {
            log.holdFactsAcrossAppends(atMost: factsHeldAtMost * 2)
            log.heldFactsBoard = heldFactsBoard
        }
        // Stream heads kept for 50,000 customers, not a bulk load's 250,000: a service keeps them for
        // its whole life, and one missing costs two indexed reads.
        log.maxCachedStreams = streamHeadsCached
        let connection = Unchecked(log)
        // Personal data is sealed on a thread of its own, a group ahead of the writer: sealing was
        // about half of what the writer did while every request of a group waited for it. The keys
        // are committed to their file before the group reaches the writer, as `append` requires.
        let vault = log.vault.flatMap { $0.problem == nil ? $0 : nil }
        let sealer = Thread { [self] in sealerLoop(vault) }
        sealer.name = "aftersale-intake-sealer"
        let thread = Thread { [self] in
            // WAL checkpoints on a thread of their own: SQLite's automatic one runs inside the
            // commit that crosses its threshold, and every request of that group waited for the copy.
            // Past 16,000 frames the writer also checkpoints itself, as a bulk load does, or under
            // a steady stream of commits the WAL would never start over.
            let log = connection.value
            do {
                try log.database.withBackgroundCheckpoints(everyFrames: 1_000, writerCatchesUpAt: 16_000) { writerLoop(log) }
            } catch {
                writerLoop(log)
            }
            stopped.signal()
        }
        thread.name = "aftersale-intake"
        self.thread = thread
        sealer.start()
        thread.start()
    }

    /// Appends the items, returning each one's outcome once committed.
    public func submit(_ items: [IntakeItem]) async throws -> [IntakeOutcome] {
        if items.isEmpty { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            if stopping {
                condition.unlock()
                continuation.resume(throwing: IntakeUnavailable(description: "the server is shutting down"))
                return
            }
            queue.append(Submission(items: items, continuation: continuation))
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Commits what is queued, then stops the thread; later submissions are refused.
    public func stop() {
        condition.lock()
        let wasRunning = thread != nil && !stopping
        stopping = true
        condition.broadcast()
        condition.unlock()
        if wasRunning { stopped.wait() }
    }

    /// Whole submissions from the front of `submissions`, up to the cap (one larger submission goes alone).
    private func takeGroup(from submissions: inout [Submission]) -> [Submission] {
        var count = 0
        var taken = 0
        for next in submissions {
            guard taken == 0 || count + next.items.count <= maxItemsPerCommit else { break }
            count += next.items.count
            taken += 1
        }
        defer { submissions.removeFirst(taken) }
        return Array(submissions.prefix(taken))
    }

    /// Takes what came, seals its personal data (one keys-file transaction for the group), and hands
    /// it to the writer in the order it came. Without a vault it only hands it on.
    private func sealerLoop(_ vault: PersonalDataVault?) {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty {
                sealerDone = true
                condition.broadcast()
                condition.unlock()
                return
            }
            var group = takeGroup(from: &queue)
            sealing = true
            condition.unlock()
            if let vault { seal(&group, with: vault) }
            condition.lock()
            sealing = false
            ready.append(contentsOf: group)
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Seals the group's events in place. Those attributed by their order (Shopify's) are left: their
    /// customer, whose key seals them, is known only inside the writer's transaction, which seals
    /// them there. On failure the group goes on unsealed, and the writer's append fails or seals it.
    private func seal(_ group: inout [Submission], with vault: PersonalDataVault) {
        var events: [EncodedEvent] = []
        var places: [(submission: Int, item: Int)] = []
        let count = group.reduce(0) { $0 + $1.items.count }
        events.reserveCapacity(count)
        places.reserveCapacity(count)
        for (s, submission) in group.enumerated() {
            for (i, item) in submission.items.enumerated() {
                guard case .event(let event, _) = item, !event.personalDataSealed, event.customer != Shopify.customerOfOrder else { continue }
                events.append(event)
                places.append((s, i))
            }
        }
        guard !events.isEmpty else { return }
        do {
            // In place: `seal(_:) -> [EncodedEvent]` copied the whole array (retaining every event's
            // texts) to mark each one, then let the copy go.
            try vault.seal(&events)
            for (event, place) in zip(events, places) {
                guard case .event(_, let condition) = group[place.submission].items[place.item] else { continue }
                group[place.submission].items[place.item] = .event(event, condition: condition)
            }
        } catch {
            logger?.error("intake could not seal ahead of the writer; the writer seals", metadata: ["error": "\(error)"])
        }
    }

    private func writerLoop(_ log: EventLog) {
        while true {
            condition.lock()
            while ready.isEmpty && !(stopping && sealerDone) {
                if log.heldFactsCount == 0 && heldOrders.isEmpty {
                    condition.wait()
                } else if !condition.wait(until: Date(timeIntervalSinceNow: idleSecondsBeforeStoringFacts)),
                          ready.isEmpty, queue.isEmpty, !sealing, !stopping {
                    // Idle: store the held facts now, while nothing waits for the log.
                    condition.unlock()
                    storeHeldFacts(log)
                    condition.lock()
                }
            }
            if ready.isEmpty {
                condition.unlock()
                storeHeldFacts(log)
                return
            }
            while !stopping, let until = Intake.commitWaitsUntil(
                now: DispatchTime.now().uptimeNanoseconds, lastCommitEnded: lastCommitEnded, delaySeconds: commitDelay,
                readyRequests: ready.count, readyItems: ready.reduce(0) { $0 + $1.items.count },
                endsAtRequests: commitDelayEndsAtRequests, endsAtItems: min(commitDelayEndsAtItems, maxItemsPerCommit)) {
                let now = DispatchTime.now().uptimeNanoseconds
                _ = condition.wait(until: Date(timeIntervalSinceNow: Double(until > now ? until - now : 0) / 1e9))
            }
            let group = takeGroup(from: &ready)
            groupsTaken += 1
            requestsTaken += UInt64(group.count)
            condition.unlock()
            commit(group, to: log)
            // After the group is answered, so that none of its requests waits for it.
            if factsHeldAtMost > 0, log.heldFactsCount >= factsHeldAtMost || heldOrders.count >= factsHeldAtMost { storeHeldFacts(log) }
        }
    }

    /// Until when (uptime, nanoseconds) the writer waits before its next commit, nil for not at all
    /// (see `commitDelaySeconds`): only while the last commit ended less than the delay ago, fewer
    /// than `endsAtRequests` requests are ready and they hold fewer than `endsAtItems` items.
    static func commitWaitsUntil(now: UInt64, lastCommitEnded: UInt64, delaySeconds: Double, readyRequests: Int, readyItems: Int,
                                 endsAtRequests: Int, endsAtItems: Int) -> UInt64? {
        guard delaySeconds > 0, readyRequests < endsAtRequests, readyItems < endsAtItems else { return nil }
        let until = lastCommitEnded &+ UInt64(delaySeconds * 1e9)
        return now < until ? until : nil
    }

    /// Stores the facts the log holds and the orders the intake holds. A failure loses nothing: the
    /// events are committed, and the next append (or the next start) derives their facts from the JSON.
    private func storeHeldFacts(_ log: EventLog) {
        let count = log.heldFactsCount
        guard count > 0 || !heldOrders.isEmpty else { return }
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            // Orders in key order: each page of the table is written once.
            try log.storeHeldFacts(rememberingOrders: heldOrders.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            log.postHeldFacts()
            logger?.debug("intake stored held facts", metadata: [
                "events": "\(count)", "orders": "\(heldOrders.count)",
                "ms": "\((DispatchTime.now().uptimeNanoseconds - started) / 1_000_000)"])
            heldOrders.removeAll(keepingCapacity: true)
        } catch {
            // The facts are derived from the events by the next append; the orders stay held.
            logger?.error("intake could not store held facts", metadata: ["error": "\(error)"])
        }
    }

    private func commit(_ group: [Submission], to log: EventLog) {
        let now = clock.now()
        do {
            let holdsOrders = factsHeldAtMost > 0
            let (outcomes, orders) = try log.withWriteTransaction {
                try Intake.write(group.map(\.items), to: log, at: now, heldOrders: heldOrders, storesOrders: !holdsOrders)
            }
            log.postHeldFacts()
            if holdsOrders { for (order, customer) in orders { heldOrders[order] = customer } }
            let appended = outcomes.reduce(0) { sum, request in
                sum + request.reduce(0) { if case .appended = $1 { $0 + 1 } else { $0 } }
            }
            let head = outcomes.joined().reduce(Int64(0)) { if case .appended(let p) = $1 { max($0, p) } else { $0 } }
            // Before the answers go out: a request sent on an answer finds the commit ended (the
            // commit delay counts from it).
            if head > 0 {
                let ended = DispatchTime.now().uptimeNanoseconds
                condition.withLock {
                    committedHead = max(committedHead, head)
                    lastCommitEnded = ended
                }
            }
            for (submission, outcome) in zip(group, outcomes) { submission.continuation.resume(returning: outcome) }
            onOutcomes?(outcomes.flatMap { $0 })
            if appended > 0 { onCommit?(appended) }
        } catch {
            for submission in group {
                submission.continuation.resume(throwing: IntakeUnavailable(description: "the log could not commit: \(error)"))
            }
        }
    }

    /// Inside the write transaction: resolves each event's condition against the log and what the
    /// group appends before it, appends the events in one go, keeps the rejects. Returns each
    /// request's outcomes, and the orders placed (stored in `order_customers` when `storesOrders`).
    ///
    /// - Parameter heldOrders: customers of orders committed but not stored yet.
    static func write(_ requests: [[IntakeItem]], to log: EventLog, at now: Timestamp, heldOrders: [String: String] = [:],
                      storesOrders: Bool = true) throws -> ([[IntakeOutcome]], orders: [(order: String, customer: String)]) {
        var events: [EncodedEvent] = []
        var rejects: [RejectedInput] = []
        // Where each item's outcome comes from: an index into `events` or `rejects`, or skipped.
        enum Slot { case event(Int), reject(Int), skipped }
        var slots: [[Slot]] = []
        var customersInGroup = Set<String>()
        // Only an event sent on a condition (Segment's identify: registered if new, updated if known)
        // asks who the group holds before it: without one, the set is not kept.
        let conditional = requests.contains { $0.contains { if case .event(_, let condition) = $0 { condition != .always } else { false } } }
        var ordersInGroup: [String: String] = [:]
        // Each event's order id, for an order.placed.
        var orders: [String?] = []
        for items in requests {
            // One message's alternatives (registered if new, updated if known) are judged on what
            // was known before it, not on each other.
            let knownBefore = customersInGroup
            var requestSlots: [Slot] = []
            for item in items {
                switch item {
                case .rejected(let input):
                    requestSlots.append(.reject(rejects.count))
                    rejects.append(input)
                case .event(var event, let condition):
                    if event.customer == Shopify.customerOfOrder {
                        // Attributed by its order: the customer of that order's order.placed.
                        let order = (try? JSONParser.parse(event.data))?["order"]?.stringValue ?? ""
                        guard let customer = try ordersInGroup[order] ?? heldOrders[order] ?? log.customer(ofOrder: order) else {
                            requestSlots.append(.reject(rejects.count))
                            rejects.append(RejectedInput(source: "shopify", origin: event.id, raw: event.jsonLine,
                                                         reason: "data.order: order \(order) is unknown here: its order.placed has not come through the service, so its customer is unknown"))
                            continue
                        }
                        event.customer = customer
                    }
                    if condition != .always {
                        let known = try knownBefore.contains(event.customer) || log.hasEvents(of: event.customer)
                        if known != (condition == .customerKnown) {
                            requestSlots.append(.skipped)
                            continue
                        }
                    }
                    if conditional { customersInGroup.insert(event.customer) }
                    // Off the facts: the writer's turn is the intake's longest stage, and parsing each order's data was part of it.
                    let order = event.placedOrder
                    if let order { ordersInGroup[order] = event.customer }
                    requestSlots.append(.event(events.count))
                    events.append(event)
                    orders.append(order)
                }
            }
            slots.append(requestSlots)
        }
        let appended = try log.appendInTransaction(events, recorded: now)
        let placed: [(order: String, customer: String)] = events.indices.compactMap { i in
            guard case .appended = appended[i], let order = orders[i] else { return nil }
            return (order, events[i].customer)
        }
        if storesOrders { try log.rememberOrders(placed) }
        let kept = try log.keepRejects(rejects, received: now)
        let outcomes: [[IntakeOutcome]] = slots.map { request in
            request.map { slot in
                switch slot {
                case .skipped: return .skipped
                case .reject(let i): return .rejected(reject: kept[i])
                case .event(let i):
                    switch appended[i] {
                    case .appended(let position, _): return .appended(position: position)
                    case .duplicate(let position): return .duplicate(position: position)
                    case .conflict(let position): return .conflict(position: position)
                    }
                }
            }
        }
        return (outcomes, placed)
    }
}

/// Hands a value to the one thread that uses it from then on.
final class Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
