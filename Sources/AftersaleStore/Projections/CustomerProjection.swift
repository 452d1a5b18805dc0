public import AftersaleCore
internal import Foundation

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

    /// A customer's row, encoded (off the writer's thread during a rebuild).
    struct StoredCustomer: Sendable {
        var customer: String
        var state: String
        var orderCount: Int64
        var lastOrderAt: Int64?

        init(_ state: CustomerState) {
            customer = state.customer
            self.state = CustomerStateCodec.encode(state)
            orderCount = Int64(state.orderCount)
            lastOrderAt = state.lastOrderAt?.millis
        }
    }

    /// Encodes states to rows on `workers` threads, keeping their order.
    static func encode(_ states: [CustomerState], workers: Int) -> [StoredCustomer] {
        let parts = EncodedParts(count: workers)
        let size = (states.count + workers - 1) / max(workers, 1)
        DispatchQueue.concurrentPerform(iterations: workers) { part in
            let range = min(part * size, states.count)..<min((part + 1) * size, states.count)
            parts.set(part, states[range].map(StoredCustomer.init))
        }
        return parts.joined()
    }

    private func store(_ states: some Sequence<CustomerState>, in table: String) throws {
        try store(rows: states.map(StoredCustomer.init), in: table)
    }

    private func store(rows: some Sequence<StoredCustomer>, in table: String) throws {
        let statement = try database.cached("""
            INSERT INTO \(table) (customer, state, order_count, last_order_at) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT(customer) DO UPDATE SET state = excluded.state, order_count = excluded.order_count,
                last_order_at = excluded.last_order_at
            """)
        for row in rows {
            statement.bind(row.customer, at: 1)
            statement.bind(row.state, at: 2)
            statement.bind(row.orderCount, at: 3)
            if let last = row.lastOrderAt { statement.bind(last, at: 4) } else { statement.bindNull(at: 4) }
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
        progress?(0, head)
        // Fold on every core: each worker reads the log through its own connection and folds the
        // customers of its partition (customers are independent), then encodes their rows.
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
        let results = RebuildResults(count: workers)
        let path = database.path
        let group = DispatchGroup()
        for worker in 0..<workers {
            DispatchQueue.global().async(group: group) {
                do {
                    let connection = try Database(path: path, readOnly: true)
                    try connection.execute("PRAGMA cache_size=-4096")  // one sequential pass: a big page cache buys nothing
                    let reader = try EventLog(database: connection)
                    var states: [String: CustomerState] = [:]
                    var seen: Int64 = 0
                    try reader.read(through: head, customer: { customer in
                        seen += 1
                        // Every worker sees every row; the first one reports how far they are.
                        if worker == 0, seen % 20_000 == 0 { results.setProgress(seen) }
                        return customer != EventType.systemCustomer && Int(StableHash.fnv64(customer) % UInt64(workers)) == worker
                    }) { recorded in
                        states[recorded.event.customer, default: CustomerState(customer: recorded.event.customer)].apply(recorded.event)
                    }
                    results.set(worker, .success(Array(states.values)))
                } catch {
                    results.set(worker, .failure(error))
                }
            }
        }
        while group.wait(timeout: .now() + 0.1) == .timedOut { progress?(results.progress, head) }
        var states: [CustomerState] = []
        for result in results.takeAll() { states += try result.get() }
        states.sort { $0.customer < $1.customer }
        progress?(head, head)
        var folded = head
        let next = "\(CustomerProjection.name)_rebuild"
        try database.execute("DROP TABLE IF EXISTS \(next)")
        try CustomerProjection.createTable(named: next, in: database)
        // Encoded a chunk at a time, on every core, so the encoded rows are never all in memory at once.
        var index = 0
        while index < states.count {
            let chunk = Array(states[index..<min(index + 20_000, states.count)])
            try database.inTransaction { try store(rows: CustomerProjection.encode(chunk, workers: workers), in: next) }
            index += chunk.count
        }
        let customerCount = states.count
        states = []
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
        return RebuildStatistics(events: folded, customers: customerCount, seconds: clock() - started)
    }
}

@available(*, unavailable)
extension CustomerProjection: Sendable {}

/// The workers' folded states in a rebuild, one slot each.
final class RebuildResults: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<[CustomerState], any Error>?]
    private var rowsRead: Int64 = 0

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func setProgress(_ rows: Int64) {
        lock.lock()
        rowsRead = rows
        lock.unlock()
    }

    var progress: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return rowsRead
    }

    func set(_ index: Int, _ result: Result<[CustomerState], any Error>) {
        lock.lock()
        slots[index] = result
        lock.unlock()
    }

    /// Hands the results over and forgets them, so they are not held twice.
    func takeAll() -> [Result<[CustomerState], any Error>] {
        lock.lock()
        defer { lock.unlock() }
        let taken = slots.map { $0 ?? .failure(SQLiteError(code: 1, message: "a rebuild worker did not finish", sql: nil)) }
        slots = Array(repeating: nil, count: slots.count)
        return taken
    }
}

/// Encoded rows from parallel parts, joined in part order.
final class EncodedParts: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [[CustomerProjection.StoredCustomer]]

    init(count: Int) { parts = Array(repeating: [], count: count) }

    func set(_ index: Int, _ rows: [CustomerProjection.StoredCustomer]) {
        lock.lock()
        parts[index] = rows
        lock.unlock()
    }

    func joined() -> [CustomerProjection.StoredCustomer] {
        lock.lock()
        defer { lock.unlock() }
        return parts.flatMap { $0 }
    }
}
