internal import AftersaleCore
internal import AftersaleSQLite
internal import Synchronization

/// The facts of the events a connection appended and has not stored in `stream_facts` yet, in
/// position order: an append's until its end, a bulk load's until its next merge.
///
/// While a bulk load holds some, the row `facts_from` of `log_settings`, committed with the first
/// of their events, says so to every other connection (`start` is this connection's copy of it).
struct HeldFacts {
    /// Where this connection's held facts start (its `facts_from`): it holds the facts of every
    /// event from there on, in position order. Nil when a bulk load holds none.
    var start: Int64?
    var keys: [Key] = []
    /// The facts themselves, back to back; each key says where its own are.
    var bytes: [UInt8] = []
    /// The latest time of the customer events held (`Int64.min`: none): `latest_at` moves to it
    /// when they are stored, not with each commit (see `keepLatestEventTime`).
    var latestAt = Int64.min

    /// Where one event's facts go in `stream_facts`, and where they are in `bytes`.
    struct Key {
        var stream: Int64
        var version: Int64
        var position: Int64
        var offset: Int32
        var count: Int32
    }

    /// Holds one more event's facts.
    mutating func append(stream: Int64, version: Int64, position: Int64, facts: ArraySlice<UInt8>) {
        let offset = bytes.count
        bytes.append(contentsOf: facts)
        keys.append(Key(stream: stream, version: version, position: position, offset: Int32(offset), count: Int32(bytes.count - offset)))
    }

    /// Lets go of every held fact (stored, or undone by a rollback), keeping the buffers' capacity.
    mutating func clear() {
        start = nil
        latestAt = .min
        keys.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
    }

    /// Puts facts keys in `stream_facts` order, (stream, version), for an insert in key order.
    ///
    /// Keys come in position order, in which each stream's versions rise, and stream ids are dense:
    /// a stable counting sort by stream is then enough, in linear time, where a comparison sort
    /// was a visible part of a bulk load's writer. Anything else is sorted by comparison.
    static func sortForInsert(_ keys: inout [Key]) {
        func compareSort() { keys.sort { ($0.stream, $0.version) < ($1.stream, $1.version) } }
        guard let first = keys.first else { return }
        var (low, high) = (first.stream, first.stream)
        for key in keys {
            low = min(low, key.stream)
            high = max(high, key.stream)
        }
        guard high - low < Int64(keys.count) * 4 + 1024 else { return compareSort() }
        // starts[s] is where stream low + s begins in the sorted keys.
        var starts = [Int](repeating: 0, count: Int(high - low) + 2)
        for key in keys { starts[Int(key.stream - low) + 1] += 1 }
        for s in 1..<starts.count { starts[s] += starts[s - 1] }
        let sorted = [Key](unsafeUninitializedCapacity: keys.count) { buffer, count in
            for key in keys {
                let s = Int(key.stream - low)
                buffer.initializeElement(at: starts[s], to: key)
                starts[s] += 1
            }
            count = keys.count
        }
        for i in sorted.indices.dropFirst() where sorted[i].stream == sorted[i - 1].stream && sorted[i].version <= sorted[i - 1].version {
            return compareSort()
        }
        keys = sorted
    }
}

/// Storing facts: what an append or a bulk load holds, and what must be derived again from the JSON.
extension EventLog {
    /// Stores every event's facts that `stream_facts` lacks, in key order (call inside a write
    /// transaction): the facts this connection holds in memory, or, when another connection
    /// appended meanwhile or a bulk load was killed, facts derived again from the events' JSON.
    /// The primary key refuses a (stream, version) given twice: the merge fails rather than lose one.
    package func mergePendingFacts() throws {
        try storePendingFacts(factsFrom: try storedTailStart())
    }

    /// `mergePendingFacts`, given the stored `facts_from` (an append knows it is its own `held.start`).
    func storePendingFacts(factsFrom stored: Int64?) throws {
        if let stored, held.start != stored {
            // Another connection's, or a killed one's: from the JSON, and their latest time from the events.
            try deriveFacts(from: stored)
            try moveLatestEventTime(to: database.scalarInt("SELECT max(at) FROM events WHERE position >= ?1 AND customer != ?2",
                                                           [.int(stored), .text(EventType.systemCustomer)]) ?? .min)
        } else if held.start == stored {
            // This connection's own (held by a bulk load, or its append's), from memory. Otherwise
            // the marker is gone: another writer stored them.
            HeldFacts.sortForInsert(&held.keys)
            try writeFacts(keys: held.keys, bytes: held.bytes)
            try moveLatestEventTime(to: held.latestAt)
        }
        if stored != nil { try database.execute("DELETE FROM log_settings WHERE name = 'facts_from'") }
        held.clear()
    }

    /// Inserts facts rows into `stream_facts`, in the order of `keys`.

    func writeFacts(keys: [HeldFacts.Key], bytes: [UInt8]) throws {
        // `bytes` outlives the statements' steps: bound where it is, not copied.
        try bytes.withUnsafeBytes { bytes in
            try database.insertRows(into: "stream_facts", columns: ["stream", "version", "position", "facts"], count: keys.count) { statement, row, first in
                let key = keys[row]
                statement.bind(key.stream, at: first + 1)
                statement.bind(key.version, at: first + 2)
                statement.bind(key.position, at: first + 3)
                statement.bind(borrowedBytes: UnsafeRawBufferPointer(rebasing: bytes[Int(key.offset)..<Int(key.offset + key.count)]),
                               at: first + 4)
            }
        }
    }

    /// Where stored facts may end: events from this position on may have none (`facts_from`).
    func storedTailStart() throws -> Int64? {
        try database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_from'")
    }

    /// Derives the facts of every event from `position` on from its JSON (the log's source of truth)
    /// and stores them: after a bulk load was killed or another connection wrote while one ran, after
    /// an upgrade from schema 1, or when `EventFacts.formatVersion` changed. The events must have no
    /// stored facts. Goes through the log in slices, so memory stays bounded however long it is.
    func deriveFacts(from position: Int64) throws {
        let slice = 250_000
        var after = position - 1
        var derived = HeldFacts()
        let stream = try database.prepare("SELECT stream FROM streams WHERE customer = ?1")
        var streams: [String: Int64] = [:]
        repeat {
            derived.clear()
            if streams.count > heads.limit { streams.removeAll(keepingCapacity: true) }
            try read(after: after, limit: slice, includeMeta: false) { recorded in
                let customer = recorded.event.customer
                let id: Int64
                if let known = streams[customer] {
                    id = known
                } else {
                    defer { stream.reset() }
                    stream.bind(customer, at: 1)
                    guard try stream.step() else {
                        throw StoreError(.inconsistentLog, "event at position \(recorded.position) has no stream")
                    }
                    id = stream.int64(0)
                    streams[customer] = id
                }
                derived.append(stream: id, version: recorded.version, position: recorded.position, facts: EventFacts.encode(recorded.event)[...])
                after = recorded.position
            }
            HeldFacts.sortForInsert(&derived.keys)
            try writeFacts(keys: derived.keys, bytes: derived.bytes)
        } while derived.keys.count == slice
    }
}

/// The facts one connection holds, as of its last commit, for the process's other connections to
/// the same file: the service's intake holds its events' facts for tens of thousands of events, and
/// the engine's projection, on a connection of its own, found them missing from `stream_facts` and
/// derived each one again from the event's JSON, about a third of what it did per event
/// (tools/results/serve-load.md, twenty-second session).
///
/// Only committed facts are posted (`EventLog.postHeldFacts`), so any facts the board gives for a
/// position a reader sees are that event's: a committed event never changes. What is not on the
/// board (stored since, or let go after a rollback) is found where it always was.
public final class HeldFactsBoard: Sendable {
    private struct Posted {
        var start: Int64?
        /// Positions in increasing order, and where each one's facts are in `bytes`.
        var positions: [Int64] = []
        var ranges: [Range<Int>] = []
        var bytes: [UInt8] = []
    }

    private let posted = Mutex(Posted())

    public init() {}

    /// How many events' facts the board holds.
    public var count: Int { posted.withLock { $0.positions.count } }

    /// Mirrors `held` (the poster's, just committed): the keys it added since the last post, or all of
    /// them when it started again (stored, or cleared by a rollback).
    func post(_ held: HeldFacts) {
        posted.withLock { board in
            let continues = board.start == held.start && held.keys.count >= board.positions.count
                && board.positions.indices.last.map { held.keys[$0].position == board.positions[$0] } ?? true
            if !continues {
                board.start = held.start
                board.positions.removeAll(keepingCapacity: true)
                board.ranges.removeAll(keepingCapacity: true)
                board.bytes.removeAll(keepingCapacity: true)
            }
            for key in held.keys[board.positions.count...] {
                let offset = board.bytes.count
                board.bytes.append(contentsOf: held.bytes[Int(key.offset)..<Int(key.offset) + Int(key.count)])
                board.positions.append(key.position)
                board.ranges.append(offset..<board.bytes.count)
            }
        }
    }

    /// The facts posted for the event at `position`, if any.
    func facts(at position: Int64) -> [UInt8]? {
        posted.withLock { board in
            var (low, high) = (0, board.positions.count)
            while low < high {
                let middle = (low + high) / 2
                if board.positions[middle] < position { low = middle + 1 } else { high = middle }
            }
            guard low < board.positions.count, board.positions[low] == position else { return nil }
            return Array(board.bytes[board.ranges[low]])
        }
    }
}
