public import AftersaleCore
internal import AftersaleSQLite

/// Input the log refused, kept so that nothing sent is lost: where it came from, its text as sent
/// and why it was refused. The user fixes it and sends it again; `aftersale rejects` and
/// `GET /v1/rejects` list it.
public struct RejectedInput: Sendable, Equatable {
    /// Where it came from: `api`, `shopify`, `segment`...
    public var source: String
    /// Which message of the source (a request's line, a webhook topic and id, a Segment messageId).
    public var origin: String
    /// The text as received (an envelope line, a webhook body).
    public var raw: String
    /// `field: why`.
    public var reason: String

    public init(source: String, origin: String, raw: String, reason: String) {
        self.source = source
        self.origin = origin
        self.raw = raw
        self.reason = reason
    }
}

/// A kept reject with its number and when it came.
public struct StoredReject: Sendable, Equatable {
    public var id: Int64
    public var received: Timestamp
    public var input: RejectedInput

    /// As `aftersale rejects --json` prints it and `GET /v1/rejects` lists it.
    public var json: JSONValue {
        .object(JSONObject([
            "id": .integer(Int(id)), "received": .string(received.description), "source": .string(input.source),
            "origin": .string(input.origin), "reason": .string(input.reason), "raw": .string(input.raw),
        ]))
    }
}

extension EventLog {
    private static let rejectsTable = """
        CREATE TABLE IF NOT EXISTS rejects (
            id       INTEGER PRIMARY KEY,
            received INTEGER NOT NULL,
            source   TEXT    NOT NULL,
            origin   TEXT    NOT NULL,
            raw      TEXT    NOT NULL,
            reason   TEXT    NOT NULL
        ) STRICT
        """

    /// Keeps rejected input; inside the caller's transaction when there is one (the intake commits
    /// its rejects with its events, so an acknowledged reject is kept). Returns each one's number.
    public func keepRejects(_ rejects: [RejectedInput], received: Timestamp) throws -> [Int64] {
        guard !rejects.isEmpty else { return [] }
        let body = { () throws -> [Int64] in
            try self.database.execute(EventLog.rejectsTable)
            let insert = try self.database.cached("INSERT INTO rejects (received, source, origin, raw, reason) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id")
            // A platform retries what it was refused (Shopify, eight times): the same input from the
            // same place is kept once.
            let existing = try self.database.cached("SELECT id FROM rejects WHERE source = ?1 AND origin = ?2 AND raw = ?3 AND reason = ?4")
            var ids: [Int64] = []
            for reject in rejects {
                existing.reset()
                try existing.bind([.text(reject.source), .text(reject.origin), .text(reject.raw), .text(reject.reason)])
                if try existing.step() {
                    ids.append(existing.int64(0))
                    existing.reset()
                    continue
                }
                existing.reset()
                insert.reset()
                try insert.bind([.int(received.millis), .text(reject.source), .text(reject.origin), .text(reject.raw), .text(reject.reason)])
                guard try insert.step() else { throw StoreError(.inconsistentLog, "a kept reject got no number") }
                ids.append(insert.int64(0))
                _ = try insert.step()
            }
            insert.reset()
            return ids
        }
        return database.isInTransaction ? try body() : try database.inTransaction(body)
    }

    /// Kept rejects, oldest first, after `after` (a reject's number), at most `limit`, of one source if given.
    public func rejects(source: String? = nil, after: Int64 = 0, limit: Int = 1000) throws -> [StoredReject] {
        guard try database.tableExists("rejects") else { return [] }
        let select = try database.prepare("""
            SELECT id, received, source, origin, raw, reason FROM rejects
            WHERE id > ?1 AND (?2 IS NULL OR source = ?2) ORDER BY id LIMIT ?3
            """)
        try select.bind([.int(after), source.map { .text($0) } ?? .null, .int(Int64(limit))])
        var found: [StoredReject] = []
        while try select.step() {
            found.append(StoredReject(id: select.int64(0), received: Timestamp(millis: select.int64(1)),
                                      input: RejectedInput(source: select.text(2) ?? "", origin: select.text(3) ?? "",
                                                           raw: select.text(4) ?? "", reason: select.text(5) ?? "")))
        }
        return found
    }

    /// Removes kept rejects once they have been fixed and sent again. Returns how many there were.
    @discardableResult
    public func removeRejects(_ ids: [Int64]) throws -> Int {
        guard !ids.isEmpty, try database.tableExists("rejects") else { return 0 }
        return try database.inTransaction {
            var removed = 0
            let delete = try database.cached("DELETE FROM rejects WHERE id = ?1")
            for id in ids {
                try delete.run([.int(id)])
                removed += Int(database.changes)
            }
            return removed
        }
    }

    /// Whether the log holds any event of this customer, asked inside the write transaction (the
    /// cached heads are checked against other writers' commits first).
    public func hasEvents(of customer: String) throws -> Bool {
        precondition(database.isInTransaction, "hasEvents is asked inside the write transaction")
        try prepareStreamHeads()
        return try currentVersion(of: customer) > 0
    }
}

extension EventLog {
    /// Commits on this connection are synced to disk before they return (`synchronous=FULL`): what
    /// a server acknowledges survives a power cut, not only a crash of the process.
    public func setDurableCommits() throws {
        try database.execute("PRAGMA synchronous=FULL")
    }

    /// Caps this connection's page cache (64 MiB by default, sized for bulk loads): a service keeps
    /// several connections open for its whole life, and each cache fills as the file grows.
    public func limitPageCache(mebibytes: Int) throws {
        try database.execute("PRAGMA cache_size=-\(max(1, mebibytes) * 1024)")
        // The keys file's too (attach the vault first): one connection, shared by the process's logs.
        try vault?.limitPageCache(mebibytes: mebibytes)
    }
}

extension EventLog {
    /// Runs `body` in one write transaction: everything it appends (`appendInTransaction`) and keeps
    /// (`keepRejects`) commits together or not at all. The service's intake commits many requests so.
    public func withWriteTransaction<T>(_ body: () throws -> T) throws -> T {
        try database.inTransaction(body)
    }
}

extension EventLog {
    private static let orderCustomersTable = """
        CREATE TABLE IF NOT EXISTS order_customers (order_id TEXT PRIMARY KEY, customer TEXT NOT NULL) STRICT, WITHOUT ROWID
        """

    /// Remembers whose orders these are (inside the caller's write transaction). Webhooks that name
    /// only an order (Shopify's fulfillments, refunds, returns) are attributed with it.
    public func rememberOrders(_ orders: [(order: String, customer: String)]) throws {
        guard !orders.isEmpty else { return }
        try database.execute(EventLog.orderCustomersTable)
        // Many rows to a statement: one INSERT per order was about as costly as storing its event.
        try database.insertRows(into: "order_customers", columns: ["order_id", "customer"], count: orders.count, keepingExisting: true) {
            statement, row, first in
            statement.bind(orders[row].order, at: first + 1)
            statement.bind(orders[row].customer, at: first + 2)
        }
    }

    /// Remembers the customer of every `order.placed` in the log that `rememberOrders` has not seen
    /// (events ingested from files, or appended before the service ran), from where the last call
    /// stopped; returns how many orders it added. The service calls it at start, so a Shopify
    /// fulfillment for an order imported earlier finds its customer.
    @discardableResult
    public func rememberOrdersInLog() throws -> Int {
        try database.inTransaction {
            try database.execute(EventLog.orderCustomersTable)
            try database.execute("CREATE TABLE IF NOT EXISTS order_customers_scanned (position INTEGER NOT NULL) STRICT")
            let from = try database.scalarInt("SELECT max(position) FROM order_customers_scanned") ?? 0
            let head = try self.head()
            guard head > from else { return 0 }
            try database.cached("""
                INSERT OR IGNORE INTO order_customers (order_id, customer)
                SELECT json_extract(data, '$.order'), customer FROM events
                WHERE position > ?1 AND position <= ?2 AND type = 'order.placed' AND json_extract(data, '$.order') IS NOT NULL
                """).run([.int(from), .int(head)])
            let added = database.changes
            try database.execute("DELETE FROM order_customers_scanned")
            try database.cached("INSERT INTO order_customers_scanned (position) VALUES (?1)").run([.int(head)])
            return added
        }
    }

    /// The customer of an order remembered by `rememberOrders`.
    public func customer(ofOrder order: String) throws -> String? {
        guard try database.tableExists("order_customers") else { return nil }
        let select = try database.cached("SELECT customer FROM order_customers WHERE order_id = ?1")
        defer { select.reset() }
        select.bind(order, at: 1)
        return try select.step() ? select.text(0) : nil
    }
}
