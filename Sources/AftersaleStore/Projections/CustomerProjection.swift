public import AftersaleCore

/// The `customers` read model: each customer's folded `CustomerState`, with its checkpoint.
///
/// Rows and checkpoint are written in one transaction in the log's own file, so each event is
/// applied exactly once however the process stops; `catchUp` resumes from the checkpoint.
public final class CustomerProjection {
    public static let name = "customers"
    public let log: EventLog
    var database: Database { log.database }

    public init(log: EventLog) throws {
        self.log = log
        try database.execute("""
            CREATE TABLE IF NOT EXISTS projection_checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL) STRICT;
            """)
        try CustomerProjection.createTable(named: CustomerProjection.name, in: database)
    }

    static func createTable(named table: String, in database: Database) throws {
        try database.execute("""
            CREATE TABLE IF NOT EXISTS \(table) (
                customer      TEXT PRIMARY KEY,
                state         TEXT NOT NULL,
                order_count   INTEGER NOT NULL,
                last_order_at INTEGER
            ) STRICT;
            """)
    }

    /// The position of the last event applied.
    public func checkpoint() throws -> Int64 {
        try database.scalarInt("SELECT position FROM projection_checkpoints WHERE name = ?1", [.text(CustomerProjection.name)]) ?? 0
    }

    private func setCheckpoint(_ position: Int64) throws {
        try database.cached("INSERT INTO projection_checkpoints (name, position) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET position = excluded.position")
            .run([.text(CustomerProjection.name), .int(position)])
    }

    /// Applies every event after the checkpoint, `batchSize` events per transaction.
    ///
    /// - Returns: how many events were applied.
    @discardableResult
    public func catchUp(batchSize: Int = 500_000) throws -> Int {
        var applied = 0
        while true {
            let n = try database.inTransaction { () throws -> Int in
                let from = try checkpoint()
                var states: [String: CustomerState] = [:]
                var last = from
                var count = 0
                try log.read(after: from, limit: batchSize, includeMeta: false) { recorded in
                    count += 1
                    last = recorded.position
                    let customer = recorded.event.customer
                    guard customer != EventType.systemCustomer else { return }
                    if states[customer] == nil {
                        states[customer] = try state(of: customer, in: CustomerProjection.name) ?? CustomerState(customer: customer)
                    }
                    states[customer]!.apply(recorded.event)
                }
                guard count > 0 else { return 0 }
                try store(states.values, in: CustomerProjection.name)
                try setCheckpoint(last)
                return count
            }
            applied += n
            if n < batchSize { return applied }
        }
    }

    /// One customer's state, nil when the log has no events for them.
    public func state(of customer: String) throws -> CustomerState? {
        try state(of: customer, in: CustomerProjection.name)
    }

    private func state(of customer: String, in table: String) throws -> CustomerState? {
        let statement = try database.cached("SELECT state FROM \(table) WHERE customer = ?1")
        statement.bind(customer, at: 1)
        defer { statement.reset() }
        guard try statement.step(), let text = statement.text(0) else { return nil }
        return try CustomerStateCodec.decode(text)
    }

    private func store(_ states: some Sequence<CustomerState>, in table: String) throws {
        let statement = try database.cached("""
            INSERT INTO \(table) (customer, state, order_count, last_order_at) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT(customer) DO UPDATE SET state = excluded.state, order_count = excluded.order_count,
                last_order_at = excluded.last_order_at
            """)
        for state in states {
            statement.bind(state.customer, at: 1)
            statement.bind(CustomerStateCodec.encode(state), at: 2)
            statement.bind(Int64(state.orderCount), at: 3)
            if let last = state.lastOrderAt { statement.bind(last.millis, at: 4) } else { statement.bindNull(at: 4) }
            try statement.step()
            statement.reset()
        }
    }

    /// Calls `body` with every customer's state, in customer id order.
    public func forEachState(_ body: (CustomerState) throws -> Void) throws {
        let statement = try database.prepare("SELECT state FROM \(CustomerProjection.name) ORDER BY customer")
        while try statement.step() {
            if let text = statement.text(0) { try body(try CustomerStateCodec.decode(text)) }
        }
    }

    public func allStates() throws -> [CustomerState] {
        var states: [CustomerState] = []
        try forEachState { states.append($0) }
        return states
    }

    public func customerCount() throws -> Int64 {
        try database.scalarInt("SELECT count(*) FROM \(CustomerProjection.name)") ?? 0
    }

    /// What a rebuild did.
    public struct RebuildStatistics: Sendable {
        public var events: Int64
        public var customers: Int
        public var seconds: Double
    }

    /// Rebuilds from position 0 into a table beside the live one, then swaps them in one
    /// transaction: readers see the old model or the new one, never a half-built one.
    ///
    /// - Parameter progress: called with (events folded, head) now and then.
    public func rebuild(clock: () -> Double, progress: ((Int64, Int64) -> Void)? = nil) throws -> RebuildStatistics {
        let started = clock()
        let head = try log.head()
        var states: [String: CustomerState] = [:]
        var folded: Int64 = 0
        try log.read(after: 0, limit: Int(head), includeMeta: false) { recorded in
            folded += 1
            if folded % 50_000 == 0 { progress?(folded, head) }
            let customer = recorded.event.customer
            guard customer != EventType.systemCustomer else { return }
            states[customer, default: CustomerState(customer: customer)].apply(recorded.event)
        }
        progress?(folded, head)
        let next = "\(CustomerProjection.name)_rebuild"
        try database.execute("DROP TABLE IF EXISTS \(next)")
        try CustomerProjection.createTable(named: next, in: database)
        let sorted = states.values.sorted { $0.customer < $1.customer }
        states = [:]
        var index = 0
        while index < sorted.count {
            let chunk = sorted[index..<min(index + 20_000, sorted.count)]
            try database.inTransaction { try store(chunk, in: next) }
            index += chunk.count
        }
        // Events appended meanwhile are applied under the write lock, then the tables swap.
        try database.inTransaction {
            var late: [String: CustomerState] = [:]
            var last = head
            try log.read(after: head, includeMeta: false) { recorded in
                last = recorded.position
                folded += 1
                let customer = recorded.event.customer
                guard customer != EventType.systemCustomer else { return }
                if late[customer] == nil { late[customer] = try state(of: customer, in: next) ?? CustomerState(customer: customer) }
                late[customer]!.apply(recorded.event)
            }
            try store(late.values, in: next)
            try database.execute("DROP TABLE \(CustomerProjection.name); ALTER TABLE \(next) RENAME TO \(CustomerProjection.name);")
            try setCheckpoint(last)
        }
        return RebuildStatistics(events: folded, customers: sorted.count, seconds: clock() - started)
    }
}

@available(*, unavailable)
extension CustomerProjection: Sendable {}
