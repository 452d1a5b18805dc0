internal import AftersaleCore
internal import AftersaleSQLite

/// The last known stream id and version of each customer a connection appended for: an append
/// asks it, not the database, for the version each event gets.
///
/// Valid while no other connection has written (`seenDataVersion`), and bounded: past `limit`
/// customers it starts over.
struct StreamHeads {
    struct Head {
        /// nil until the customer's first event is appended.
        var stream: Int64?
        var version: Int64
    }

    typealias Map = [String: Head]

    var byCustomer: Map = [:]
    /// True while `byCustomer` holds every stream of the log: it was empty on a log with no
    /// streams, and this connection made each one since. A customer it lacks then has none, with
    /// no query (on a first import, one per new customer).
    var holdsEveryStream = false
    /// `PRAGMA data_version` when the cache was last known good: it changes when another connection commits.
    var seenDataVersion: Int64 = -1
    /// Stream heads kept in memory (about 100 bytes each) before the cache starts over.
    var limit = 250_000

    /// Where the customer's head is, read with `stored` when it is not cached yet.
    mutating func index(of customer: String, stored: (_ customer: String, _ mayExist: Bool) throws -> Head) rethrows -> Map.Index {
        if let index = byCustomer.index(forKey: customer) { return index }
        byCustomer[customer] = try stored(customer, !holdsEveryStream)
        return byCustomer.index(forKey: customer)!
    }

    /// Starts over: every head is read from the log again when next needed.
    mutating func forget() {
        byCustomer.removeAll(keepingCapacity: true)
        holdsEveryStream = false
    }
}

/// Stream heads: what version each customer's next event gets.
extension EventLog {
    /// The stream's last version, 0 when it has no events.
    public func currentVersion(of stream: String) throws -> Int64 {
        let index = try heads.index(of: stream, stored: storedHead)
        return heads.byCustomer.values[index].version
    }

    /// The customer's head as the log has it (`mayExist` false: the cache knows they have none).
    func storedHead(of customer: String, mayExist: Bool) throws -> StreamHeads.Head {
        var head = StreamHeads.Head(stream: mayExist ? try streamID(of: customer) : nil, version: 0)
        if let stream = head.stream {
            let statement = try database.cached("SELECT max(version) FROM stream_facts WHERE stream = ?1")
            defer { statement.reset() }
            statement.bind(stream, at: 1)
            head.version = try statement.step() && !statement.isNull(0) ? statement.int64(0) : 0
        }
        return head
    }

    /// The customer's stream id, nil when the log has no events of theirs.
    public func streamID(of customer: String) throws -> Int64? {
        let statement = try database.cached("SELECT stream FROM streams WHERE customer = ?1")
        defer { statement.reset() }
        statement.bind(customer, at: 1)
        return try statement.step() ? statement.int64(0) : nil
    }

    /// Readies the cache for an append (inside its write transaction): starts over when another
    /// connection committed since it was last good, or when it outgrew its limit.
    func prepareStreamHeads() throws {
        let dataVersion = try database.dataVersion()
        if dataVersion != heads.seenDataVersion {
            heads.seenDataVersion = dataVersion
            // Another connection committed. While `facts_from` is still ours, it appended nothing
            // (an appender stores what is pending first): the cache and the facts held stay good.
            let stillOurs = try held.start != nil && storedTailStart() == held.start
            if !stillOurs {
                // Versions are read again from `stream_facts`, so every fact must be there (this
                // runs inside the append's write transaction). Facts held here were stored by the other.
                held.clear()
                try mergePendingFacts()
                heads.forget()
            }
        }
        if heads.byCustomer.count > heads.limit {
            // Bounded memory over millions of customers: forget, after merging what is pending,
            // since versions are then read from `stream_facts`.
            try storePendingFacts(factsFrom: held.start)
            heads.forget()
        }
        if heads.byCustomer.isEmpty, !heads.holdsEveryStream {
            heads.holdsEveryStream = try database.scalarInt("SELECT EXISTS (SELECT 1 FROM streams)") == 0
        }
    }
}
