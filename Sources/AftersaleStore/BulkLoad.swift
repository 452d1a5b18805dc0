public import AftersaleCore
internal import AftersaleSQLite

/// A bulk load of the log: many appends in a row by one writer (an ingest of files).
///
/// The log keeps the policy: the events' facts are held in memory between appends and merged into
/// `stream_facts` in key order every `factsMergeInterval` events and at the end (inserting them
/// append by append at random keys rewrites a page per customer per append), and WAL checkpoints
/// run on a thread of their own. A kill at any moment leaves whole appends; the next writer derives
/// the facts that were held (see `EventLog`).
public final class BulkLoad {
    let log: EventLog

    init(log: EventLog) {
        self.log = log
    }

    /// Appends a batch in a transaction of its own (see `EventLog.append`).
    public func append(_ events: [EncodedEvent], recorded: Timestamp) throws -> [AppendOutcome] {
        try log.append(events, recorded: recorded)
    }

    /// The caller has nothing to append at the moment (its reader is behind): stores the held facts
    /// while that is cheap, so that less is left for the end, which nothing overlaps.
    public func writerIsIdle() throws {
        if log.mergingHeldFactsIsCheap { try log.database.inTransaction { try log.mergePendingFacts() } }
    }

    /// The caller's input is all read: from now on only the writer works, so each commit's pages
    /// are copied into the database beside it (the other core would otherwise idle, and the last
    /// checkpoint, which nothing overlaps, copy all of them).
    public func inputIsRead() {
        log.database.checkpointAfterEveryCommit()
    }
}

@available(*, unavailable)
extension BulkLoad: Sendable {}

extension EventLog {
    /// Runs `body`'s appends as one bulk load, then stores every held fact.
    public func bulkLoad<T>(_ body: (BulkLoad) throws -> T) throws -> T {
        defersFactsMerge = true
        defer { defersFactsMerge = false }
        // Past its limit the connection forgets its stream heads, which first merges the held facts
        // and then reads each customer's head again at a random page of `streams` and of
        // `stream_facts`: with a connection's 250,000 a million-customer ingest did both again and
        // again. Up to two million customers' heads (about 140 bytes each, the results in tools/results)
        // are kept here instead.
        let headsLimit = maxCachedStreams
        maxCachedStreams = max(headsLimit, EventLog.bulkLoadStreamHeads)
        defer { maxCachedStreams = headsLimit }
        // One checkpoint every 4,000 frames (64 MiB with 16 KiB pages, one or two batches) keeps
        // the WAL short: its pages are reused while cached, and the copy and sync at the end are
        // small. The writer catches up itself from 16,000 frames (256 MiB) once the background
        // thread has copied nearly all, or the WAL never starts over; and at 128,000 (2 GiB) in any
        // case. A merge of held facts alone writes tens of thousands of frames: copied beside the
        // writer, not by it.
        return try database.withBackgroundCheckpoints(everyFrames: 4_000, writerCatchesUpAt: 16_000, writerMustCatchUpAt: 128_000) {
            let result = try body(BulkLoad(log: self))
            try database.inTransaction { try mergePendingFacts() }
            return result
        }
    }

    /// The stream heads a bulk load keeps in memory at least (see `maxCachedStreams`).
    static let bulkLoadStreamHeads = 2_000_000

    /// Whether a bulk load's held facts are worth storing before `factsMergeInterval`: a merge
    /// rewrites every `stream_facts` page it lands in, which is cheap while the table is small. At
    /// least 4,096 held, and fewer than a quarter of `factsMergeInterval` stored before them.
    var mergingHeldFactsIsCheap: Bool {
        guard let start = held.start, held.keys.count >= 4096 else { return false }
        return start - 1 < Int64(factsMergeInterval / 4)
    }
}

extension EventLog {
    /// For a writer that appends in many small commits for a long time (the service's intake):
    /// holds its events' facts in memory across appends, as a bulk load does, instead of storing
    /// them at the end of each append.
    ///
    /// An append stores its facts at random keys of `stream_facts` (one per customer), so a commit
    /// of a few hundred events rewrites about as many pages, and the table's pages grow with the
    /// shop. Held, they are stored together in key order by `storeHeldFacts()` (the writer calls it
    /// when idle or past its own bound), or by the append that holds `atMost`; another writer, or
    /// the next to open the file after a kill, derives them from the JSON. Readers meanwhile read
    /// those events whole (see `EventLog`), so the writer keeps the tail short.
    public func holdFactsAcrossAppends(atMost limit: Int) {
        defersFactsMerge = true
        factsMergeInterval = max(1, limit)
    }

    /// Posts the facts this connection holds to its board (`heldFactsBoard`): call after each commit
    /// that appended events or stored held facts, never inside a transaction.
    public func postHeldFacts() {
        heldFactsBoard?.post(held)
    }

    /// How many appended events' facts this connection holds and has not stored.
    public var heldFactsCount: Int { held.keys.count }

    /// Stores the facts this connection holds (see `holdFactsAcrossAppends`), and the customers of
    /// `orders` (`rememberOrders`, in the order given), in a transaction of their own. On a failure
    /// the facts are no longer held: the next append derives them from the events.
    public func storeHeldFacts(rememberingOrders orders: [(order: String, customer: String)] = []) throws {
        try database.inTransaction {
            try mergePendingFacts()
            try rememberOrders(orders)
        }
    }
}
