public import AftersaleCore
internal import AftersaleSQLite
public import AftersaleStore

/// One command on its way to a destination.
public struct Delivery: Sendable, Equatable {
    public var command: String
    public var customer: String
    public var destination: String
    /// The command's due time: a customer's deliveries go out in this order.
    public var due: Timestamp
    /// The body, fixed when the command was released: every try sends the same bytes.
    public var body: String
    /// Tries made so far.
    public var attempts: Int
    /// When the next try may go (the engine's clock).
    public var nextAttempt: Timestamp
    /// `queued`, `delivered`, `failed`, or `dropped` (its command was cancelled or suppressed before
    /// it went).
    public var state: String
    public var lastStatus: Int?
    public var lastError: String?
    /// Tries made before it was sent again by hand (`redeliver`): the retry schedule starts over
    /// from there. 0 for a delivery never redelivered.
    public var seriesFrom = 0
}

/// One try, as recorded.
public struct DeliveryAttempt: Sendable, Equatable {
    public var command: String
    public var attempt: Int
    public var destination: String
    /// The engine's clock when it went, and the real time (`webhook-timestamp`, Unix seconds).
    public var at: Timestamp
    public var sentAt: Int64
    /// The answer's status, or nil when none came (timeout, connection refused) and `error` says why.
    public var status: Int?
    public var error: String?
    /// When the next try may go, if one will.
    public var retryAt: Timestamp?

    public var json: JSONValue {
        var o = JSONObject(["attempt": .integer(attempt), "destination": .string(destination), "at": .string(at.description),
                            "webhook_timestamp": .integer(Int(sentAt))])
        if let status { o["status_code"] = .integer(status) }
        if let error { o["error"] = .string(error) }
        if let retryAt { o["retry_at"] = .string(retryAt.description) }
        return .object(o)
    }
}

/// The delivery queue, its tries and the destinations' state, in the log's file beside the outbox:
/// a restart loses nothing, and a try whose outcome was not recorded (a crash after the POST) is
/// made again with the same id.
public final class DeliveryQueue {
    public let log: EventLog
    var database: Database { log.database }

    public init(log: EventLog) throws {
        self.log = log
        try database.execute("""
            CREATE TABLE IF NOT EXISTS deliveries (
                command      TEXT PRIMARY KEY,
                customer     TEXT NOT NULL,
                destination  TEXT NOT NULL,
                due          INTEGER NOT NULL,
                body         TEXT NOT NULL,
                attempts     INTEGER NOT NULL DEFAULT 0,
                next_attempt INTEGER NOT NULL,
                state        TEXT NOT NULL,
                last_status  INTEGER,
                last_error   TEXT,
                series_from  INTEGER NOT NULL DEFAULT 0
            ) STRICT;
            CREATE INDEX IF NOT EXISTS deliveries_queued ON deliveries(state, next_attempt);
            CREATE INDEX IF NOT EXISTS deliveries_customer ON deliveries(customer, state, due, command);
            CREATE TABLE IF NOT EXISTS delivery_attempts (
                command     TEXT NOT NULL,
                attempt     INTEGER NOT NULL,
                destination TEXT NOT NULL,
                at          INTEGER NOT NULL,
                sent_at     INTEGER NOT NULL,
                status      INTEGER,
                error       TEXT,
                retry_at    INTEGER,
                PRIMARY KEY (command, attempt)
            ) STRICT;
            CREATE TABLE IF NOT EXISTS delivery_destinations (
                name        TEXT PRIMARY KEY,
                disabled_at INTEGER,
                reason      TEXT
            ) STRICT;
            """)
    }

    static let columns = "command, customer, destination, due, body, attempts, next_attempt, state, last_status, last_error, series_from"

    static func decode(_ s: Statement) -> Delivery {
        Delivery(command: s.text(0) ?? "", customer: s.text(1) ?? "", destination: s.text(2) ?? "", due: Timestamp(millis: s.int64(3)),
                 body: s.text(4) ?? "", attempts: Int(s.int64(5)), nextAttempt: Timestamp(millis: s.int64(6)), state: s.text(7) ?? "",
                 lastStatus: s.isNull(8) ? nil : Int(s.int64(8)), lastError: s.text(9), seriesFrom: Int(s.int64(10)))
    }

    /// Commands queued and not yet answered for good.
    public func inFlight() throws -> Set<String> {
        let s = try database.prepare("SELECT command FROM deliveries WHERE state = 'queued'")
        var ids = Set<String>()
        while try s.step() { ids.insert(s.text(0) ?? "") }
        return ids
    }

    /// Queues a released command (inside the release's transaction). A command queued before keeps
    /// its row.
    public func enqueue(_ command: String, customer: String, destination: String, due: Timestamp, body: String, now: Timestamp) throws {
        try database.cached("""
            INSERT INTO deliveries (command, customer, destination, due, body, next_attempt, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued')
            ON CONFLICT(command) DO NOTHING
            """).run([.text(command), .text(customer), .text(destination), .int(due.millis), .text(body), .int(now.millis)])
    }

    /// The deliveries that may go now: for each customer, the first queued one in due order, if its
    /// time has come and its destination is enabled. A customer's later commands wait behind one
    /// that is being retried.
    ///
    /// In the order of `next_attempt` only, which the index gives: the query stops at `limit`
    /// instead of sorting every queued row (ties between customers need no order).
    public func ready(now: Timestamp, limit: Int) throws -> [Delivery] {
        let s = try database.cached("""
            SELECT \(DeliveryQueue.columns) FROM deliveries d
            WHERE d.state = 'queued' AND d.next_attempt <= ?1
              AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.customer = d.customer AND e.state = 'queued'
                              AND (e.due < d.due OR (e.due = d.due AND e.command < d.command)))
              AND NOT EXISTS (SELECT 1 FROM delivery_destinations x WHERE x.name = d.destination AND x.disabled_at IS NOT NULL)
            ORDER BY d.next_attempt LIMIT ?2
            """)
        try s.bind([.int(now.millis), .int(Int64(limit))])
        var found: [Delivery] = []
        while try s.step() { found.append(DeliveryQueue.decode(s)) }
        return found
    }

    /// One command's delivery, if it was ever queued.
    public func delivery(of command: String) throws -> Delivery? {
        let s = try database.prepare("SELECT \(DeliveryQueue.columns) FROM deliveries WHERE command = ?1")
        s.bind(command, at: 1)
        return try s.step() ? DeliveryQueue.decode(s) : nil
    }

    /// Deliveries by state (`queued`, `delivered`, `failed`), in due order.
    public func deliveries(state: String? = nil, customer: String? = nil) throws -> [Delivery] {
        var sql = "SELECT \(DeliveryQueue.columns) FROM deliveries WHERE 1"
        var values: [SQLValue] = []
        if let state {
            values.append(.text(state))
            sql += " AND state = ?\(values.count)"
        }
        if let customer {
            values.append(.text(customer))
            sql += " AND customer = ?\(values.count)"
        }
        let s = try database.prepare(sql + " ORDER BY due, command")
        try s.bind(values)
        var found: [Delivery] = []
        while try s.step() { found.append(DeliveryQueue.decode(s)) }
        return found
    }

    /// A command's tries, in order.
    public func attempts(of command: String) throws -> [DeliveryAttempt] {
        let s = try database.cached("SELECT \(DeliveryQueue.attemptColumns) FROM delivery_attempts WHERE command = ?1 ORDER BY attempt")
        s.bind(command, at: 1)
        var found: [DeliveryAttempt] = []
        while try s.step() { found.append(DeliveryQueue.decodeAttempt(s)) }
        return found
    }

    /// The tries so far of every delivery still queued after one or more (being retried, or
    /// waiting for a disabled destination), by command, each in order: what the log does not have
    /// yet, since a delivery's hand-off event comes with its outcome.
    public func attemptsOfQueued() throws -> [String: [DeliveryAttempt]] {
        let s = try database.prepare("""
            SELECT \(DeliveryQueue.attemptColumns) FROM delivery_attempts
            WHERE command IN (SELECT command FROM deliveries WHERE state = 'queued' AND attempts > 0) ORDER BY command, attempt
            """)
        var found: [String: [DeliveryAttempt]] = [:]
        while try s.step() {
            let attempt = DeliveryQueue.decodeAttempt(s)
            found[attempt.command, default: []].append(attempt)
        }
        return found
    }

    private static let attemptColumns = "command, attempt, destination, at, sent_at, status, error, retry_at"

    private static func decodeAttempt(_ s: Statement) -> DeliveryAttempt {
        DeliveryAttempt(command: s.text(0) ?? "", attempt: Int(s.int64(1)), destination: s.text(2) ?? "", at: Timestamp(millis: s.int64(3)),
                        sentAt: s.int64(4), status: s.isNull(5) ? nil : Int(s.int64(5)), error: s.text(6),
                        retryAt: s.isNull(7) ? nil : Timestamp(millis: s.int64(7)))
    }

    /// Records a try and the delivery's new state (inside the caller's transaction).
    func record(_ attempt: DeliveryAttempt, state: String) throws {
        try database.cached("""
            INSERT INTO delivery_attempts (command, attempt, destination, at, sent_at, status, error, retry_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            ON CONFLICT(command, attempt) DO UPDATE SET status = excluded.status, error = excluded.error, retry_at = excluded.retry_at
            """).run([.text(attempt.command), .int(Int64(attempt.attempt)), .text(attempt.destination), .int(attempt.at.millis), .int(attempt.sentAt),
                      attempt.status.map { .int(Int64($0)) } ?? .null, attempt.error.map(SQLValue.text) ?? .null,
                      attempt.retryAt.map { .int($0.millis) } ?? .null])
        try database.cached("""
            UPDATE deliveries SET attempts = ?2, state = ?3, next_attempt = coalesce(?4, next_attempt), last_status = ?5, last_error = ?6 WHERE command = ?1
            """).run([.text(attempt.command), .int(Int64(attempt.attempt)), .text(state), attempt.retryAt.map { .int($0.millis) } ?? .null,
                      attempt.status.map { .int(Int64($0)) } ?? .null, attempt.error.map(SQLValue.text) ?? .null])
    }

    /// Queues a failed delivery again, to go at `now` with a fresh retry schedule (`aftersale
    /// redeliver`). Returns the delivery as it was, or nil when the command was never delivered;
    /// throws when it has not failed.
    public func redeliver(_ command: String, now: Timestamp) throws -> Delivery? {
        guard let delivery = try delivery(of: command) else { return nil }
        guard delivery.state == "failed" else {
            throw DeliverySettingsError("\(command): its delivery is \(delivery.state), not failed; only a failed delivery is sent again")
        }
        try database.cached("UPDATE deliveries SET state = 'queued', next_attempt = ?2, series_from = attempts WHERE command = ?1")
            .run([.text(command), .int(now.millis)])
        return delivery
    }

    /// Ends a queued delivery without a try: its command was cancelled or suppressed meanwhile (a
    /// return made a review request moot while it waited for a retry).
    func drop(_ command: String, because reason: String) throws {
        try database.cached("UPDATE deliveries SET state = 'dropped', last_error = ?2 WHERE command = ?1 AND state = 'queued'")
            .run([.text(command), .text(reason)])
    }

    /// Disables a destination (it answered 410 Gone): its deliveries wait until it is enabled again.
    func disable(_ destination: String, at now: Timestamp, reason: String) throws {
        try database.cached("""
            INSERT INTO delivery_destinations (name, disabled_at, reason) VALUES (?1, ?2, ?3)
            ON CONFLICT(name) DO UPDATE SET disabled_at = excluded.disabled_at, reason = excluded.reason
            """).run([.text(destination), .int(now.millis), .text(reason)])
    }

    /// Enables a disabled destination; false when it was not disabled.
    @discardableResult
    public func enable(_ destination: String) throws -> Bool {
        try database.cached("UPDATE delivery_destinations SET disabled_at = NULL, reason = NULL WHERE name = ?1 AND disabled_at IS NOT NULL")
            .run([.text(destination)])
        return database.changes > 0
    }

    /// Disabled destinations and why.
    public func disabledDestinations() throws -> [(name: String, since: Timestamp, reason: String)] {
        let s = try database.prepare("SELECT name, disabled_at, reason FROM delivery_destinations WHERE disabled_at IS NOT NULL ORDER BY name")
        var found: [(String, Timestamp, String)] = []
        while try s.step() { found.append((s.text(0) ?? "", Timestamp(millis: s.int64(1)), s.text(2) ?? "")) }
        return found
    }
}
