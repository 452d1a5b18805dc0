public import AftersaleCore
internal import AftersaleSQLite
public import AftersaleStore
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
        // Before log schema 2 the table was keyed by customer and held JSON: rebuilt from the log.
        if try database.tableExists(CustomerProjection.name), try !hasColumn(CustomerProjection.name, "stream") {
            try database.inTransaction {
                try database.execute("DROP TABLE \(CustomerProjection.name)")
                try database.cached("DELETE FROM projection_checkpoints WHERE name = ?1").run([.text(CustomerProjection.name)])
            }
        }
        try CustomerProjection.createTable(named: CustomerProjection.name, in: database)
        // Files from before catch-ups wrote in several transactions: no row is ahead of the checkpoint.
        if try !hasColumn(CustomerProjection.name, "folded_through") {
            if database.isReadOnly {
                markColumn = "NULL"
            } else {
                try database.execute("ALTER TABLE \(CustomerProjection.name) ADD COLUMN folded_through INTEGER")
            }
        }
    }

    /// What a row's mark is read from: its column, or NULL in a file from before it that this
    /// connection may not change.
    private var markColumn = "folded_through"

    private func hasColumn(_ table: String, _ name: String) throws -> Bool {
        let columns = try database.prepare("SELECT name FROM pragma_table_info(?1)")
        columns.bind(table, at: 1)
        while try columns.step() { if columns.text(0) == name { return true } }
        return false
    }

    /// One row per customer, keyed by the log's stream id; `state` is `CustomerStateBinaryCodec`.
    ///
    /// A row's state has folded its customer's events up to the checkpoint, or up to
    /// `folded_through` when that is later: a catch-up writes its rows in several transactions
    /// (`rowsPerTransaction`) and moves the checkpoint with the last, so a row written by an
    /// earlier one is ahead of the checkpoint until then, or for good if the process stops
    /// in between; a fold skips the events such a row already has.
    static func createTable(named table: String, in database: Database) throws {
        try database.execute("""
            CREATE TABLE IF NOT EXISTS \(table) (
                stream         INTEGER PRIMARY KEY,
                customer       TEXT NOT NULL,
                state          BLOB NOT NULL,
                order_count    INTEGER NOT NULL,
                last_order_at  INTEGER,
                folded_through INTEGER
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

    /// Rows written per transaction by a catch-up (see `createTable`): the service's intake waits
    /// for the write lock while they are written and synced, and a batch's customers are all over
    /// the table, a page of it each.
    public var rowsPerTransaction = 2_000
    /// Called after each transaction of a catch-up commits, with its rows (tests: a process
    /// stopped between two).
    var afterTransaction: ((_ rows: Int) throws -> Void)?

    /// Applies every event after the checkpoint, folding `batchSize` events at a time and writing
    /// their customers' rows in transactions of `rowsPerTransaction`, in stream order (the rows of
    /// one transaction share what pages they can); the last moves the checkpoint.
    ///
    /// A backlog of most of the log (a first import, an upgrade) is folded by `rebuild` instead,
    /// which streams one customer at a time in bounded memory, on every core; the result is the
    /// same. It takes a little longer to start and folds several times faster, so it pays off from a
    /// backlog of a few thousand events on.
    ///
    /// A batch also ends once the customers' states it holds reach `stateBytesPerBatch` (as stored,
    /// plus the facts folded into them): a batch holds every customer it touches, decoded, until it
    /// is written, and a customer's state grows with their history, so a batch of a fixed number of
    /// events takes more memory the older the shop.
    ///
    /// - Returns: how many events were applied.
    @discardableResult
    public func catchUp(batchSize: Int = 500_000, stateBytesPerBatch: Int = .max, rebuildThreshold: Int64 = 10_000,
                        chunkSize: Int64? = nil, clock: () -> Double = { 0 }) throws -> Int {
        func farBehind() throws -> Bool {
            let (from, head) = (try checkpoint(), try log.head())
            return head - from >= rebuildThreshold && (head - from) * 2 >= head
        }
        if try farBehind() {
            let from = try checkpoint()
            // Another process may have rebuilt while this one waited for the lock.
            let rebuilt = try withRebuildLock { try farBehind() ? try rebuildHoldingLock(clock: clock, chunkSize: chunkSize) : nil }
            if let rebuilt { return Int(rebuilt.events - from) }
        }
        var applied = 0
        while true {
            // Folded on a snapshot, without the write lock, which other writers (a service's intake)
            // wait for; then stored, unless another writer moved the checkpoint meanwhile.
            let from = try checkpoint()
            var batch = try database.onOneSnapshot {
                try fold(after: from, limit: batchSize, stateBytes: stateBytesPerBatch, from: CustomerProjection.name)
            }
            guard batch.events > 0 else { return applied }
            // Encoded before the first transaction: the lock is held for the writing only. Each state
            // is let go as its row is made, so the batch's states, a sorted copy of them and their rows
            // are not all held at once.
            var rows: [StoredCustomer] = []
            rows.reserveCapacity(batch.states.count)
            for stream in batch.states.keys.sorted() {
                let state = batch.states.removeValue(forKey: stream)!
                rows.append(StoredCustomer(stream: stream, state: state, foldedThrough: batch.ahead[stream]))
            }
            batch.states = [:]
            let size = max(1, rowsPerTransaction)
            var written = 0
            var stored = true
            repeat {
                let end = min(rows.count, written + size)
                let last = end == rows.count
                stored = try database.inTransaction { () throws -> Bool in
                    guard try checkpoint() == from else { return false }
                    // Ahead of the checkpoint until the last transaction moves it.
                    try store(rows: rows[written..<end], foldedThrough: last ? nil : batch.last, in: CustomerProjection.name)
                    if last { try setCheckpoint(batch.last) }
                    return true
                }
                if stored { try afterTransaction?(end - written) }
                written = end
            } while stored && written < rows.count
            // Another writer moved the checkpoint: what this one wrote is marked as folded, the rest is
            // folded again from there.
            guard stored else { continue }
            applied += batch.events
            if batch.events < batchSize && !batch.full { return applied }
        }
    }

    /// Folds the events after `position` into `table`'s rows and moves the checkpoint (inside the
    /// caller's transaction). Returns how many events were read.
    private func apply(after position: Int64, into table: String) throws -> Int {
        let batch = try fold(after: position, from: table)
        guard batch.events > 0 else { return 0 }
        try store(rows: batch.states.map { StoredCustomer(stream: $0.key, state: $0.value, foldedThrough: batch.ahead[$0.key]) },
                  foldedThrough: nil, in: table)
        try setCheckpoint(batch.last)
        return batch.events
    }

    /// Up to `limit` events after `position`, folded into the states of their customers' rows in
    /// `table`: the states, the last position read, how many events were read, and the rows that
    /// were already folded further than `position` (see `createTable`) with how far.
    /// `full`: it stopped before the log's end because the states it holds reached `stateBytes`.
    private func fold(after position: Int64, limit: Int = .max, stateBytes: Int = .max, from table: String) throws
        -> (states: [Int64: CustomerState], last: Int64, events: Int, ahead: [Int64: Int64], full: Bool) {
        var states: [Int64: CustomerState] = [:]
        // The rows a catch-up left ahead of `position`, and how far (see `createTable`).
        var ahead: [Int64: Int64] = [:]
        var last = position
        var count = 0
        var held = 0
        let from = position
        try log.readFacts(after: position, limit: limit, stop: { held >= stateBytes }) { position, stream, customer, facts in
            count += 1
            last = position
            guard customer != EventType.systemCustomer else { return }
            if states[stream] == nil {
                let row = try row(ofStream: stream, in: table)
                states[stream] = row?.state ?? CustomerState(customer: customer)
                held += row?.bytes ?? 0
                if let through = row?.foldedThrough, through > from { ahead[stream] = through }
            }
            if let through = ahead[stream], position <= through { return }
            held += facts.count
            try states[stream]!.apply(facts: facts)
        }
        return (states, last, count, ahead, held >= stateBytes)
    }

    /// A customer's row as a rebuild worker encoded it: its customer id (UTF-8) and its state are
    /// ranges of its chunk's buffer.
    struct RebuiltRow: Sendable {
        var stream: Int64
        var customer: Range<Int>
        var orderCount: Int64
        var lastOrderAt: Int64?
        var bytes: Range<Int>
    }

    /// Folds one customer's facts into `state` (started over) and appends its row to a chunk's
    /// rows and buffer. Everything is handed on inout: a closure's captured variables are checked
    /// for exclusive access at each use, and a state encoded from one was copied first (retaining
    /// each of its collections).
    static func fold(stream: Int64, customer: String, facts: inout StreamFactsCursor, state: inout CustomerState,
                     into buffer: inout ByteWriter, rows: inout [RebuiltRow], events: inout Int64) throws {
        state.reset(customer: customer)
        var any = false
        while let bytes = try facts.next() {
            any = true
            events += 1
            try state.apply(facts: bytes)
        }
        guard any, customer != EventType.systemCustomer else { return }
        let id = buffer.byteCount
        buffer.utf8(customer)
        let start = buffer.byteCount
        CustomerStateBinaryCodec.encode(state, into: &buffer)
        rows.append(RebuiltRow(stream: stream, customer: id..<start, orderCount: Int64(state.orderCount),
                               lastOrderAt: state.lastOrderAt?.millis, bytes: start..<buffer.byteCount))
    }

    /// Inserts a chunk's rows into a table being rebuilt, which holds none of them yet.
    private func insert(_ chunk: RebuiltChunk, into table: String) throws {
        let rows = chunk.rows
        // The chunk's buffer outlives the statements' steps: bound where it is, not copied.
        try chunk.buffer.withUnsafeBytes { states in
            try database.insertRows(into: table, columns: ["stream", "customer", "state", "order_count", "last_order_at"],
                                    count: rows.count) { statement, index, first in
                let row = rows[index]
                statement.bind(row.stream, at: first + 1)
                statement.bind(borrowedUTF8: UnsafeRawBufferPointer(rebasing: states[row.customer]), at: first + 2)
                statement.bind(borrowedBytes: UnsafeRawBufferPointer(rebasing: states[row.bytes]), at: first + 3)
                statement.bind(row.orderCount, at: first + 4)
                if let last = row.lastOrderAt { statement.bind(last, at: first + 5) } else { statement.bindNull(at: first + 5) }
            }
        }
    }

    /// One customer's state with every event the log holds for them, and those events (read once,
    /// on the same snapshot), nil when it has none: the stored row and, without writing anything,
    /// the customer's events it has not folded yet (under load the service folds the read model in
    /// larger batches, `LiveEngine.projectionBatchUnderLoad`).
    public func current(_ customer: String) throws -> (state: CustomerState, events: [RecordedEvent])? {
        try database.onOneSnapshot {
            guard let stream = try log.streamID(of: customer) else { return nil }
            let row = try row(ofStream: stream, in: CustomerProjection.name)
            let folded = max(try checkpoint(), row?.foldedThrough ?? 0)
            let events = try log.stream(of: customer)
            var state = row?.state
            for recorded in events where recorded.position > folded {
                if state == nil { state = CustomerState(customer: customer) }
                state!.apply(recorded.event)
            }
            return state.map { ($0, events) }
        }
    }

    /// One customer's state as the read model holds it, nil when it has no row for them.
    public func state(of customer: String) throws -> CustomerState? {
        guard let stream = try log.streamID(of: customer) else { return nil }
        return try row(ofStream: stream, in: CustomerProjection.name)?.state
    }

    /// `bytes`: the state's size as stored.
    private func row(ofStream stream: Int64, in table: String) throws -> (state: CustomerState, foldedThrough: Int64?, bytes: Int)? {
        let statement = try database.cached("SELECT state, \(markColumn) FROM \(table) WHERE stream = ?1")
        statement.bind(stream, at: 1)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        let (bytes, state) = try statement.withBytes(0) { ($0.count, try CustomerStateBinaryCodec.decode(UnsafeRawBufferPointer($0))) }
        return (state, statement.isNull(1) ? nil : statement.int64(1), bytes)
    }

    /// A customer's row, encoded (on a worker thread during a rebuild).
    struct StoredCustomer: Sendable {
        var stream: Int64
        var customer: String
        var state: [UInt8]
        var orderCount: Int64
        var lastOrderAt: Int64?
        /// The row was folded further than its batch began (see `createTable`).
        var foldedThrough: Int64?

        init(stream: Int64, state: CustomerState, foldedThrough: Int64? = nil) {
            self.stream = stream
            customer = state.customer
            self.state = CustomerStateBinaryCodec.encode(state)
            orderCount = Int64(state.orderCount)
            lastOrderAt = state.lastOrderAt?.millis
            self.foldedThrough = foldedThrough
        }
    }

    /// `foldedThrough`: the position the rows' states are folded through when the checkpoint stays
    /// behind it; nil when it moves there in the same transaction.
    private func store(rows: some Sequence<StoredCustomer>, foldedThrough: Int64?, in table: String) throws {
        let statement = try database.cached("""
            INSERT INTO \(table) (stream, customer, state, order_count, last_order_at, folded_through) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT(stream) DO UPDATE SET state = excluded.state, order_count = excluded.order_count,
                last_order_at = excluded.last_order_at, folded_through = excluded.folded_through
            """)
        for row in rows {
            statement.bind(row.stream, at: 1)
            statement.bind(row.customer, at: 2)
            statement.bind(bytes: row.state, at: 3)
            statement.bind(row.orderCount, at: 4)
            if let last = row.lastOrderAt { statement.bind(last, at: 5) } else { statement.bindNull(at: 5) }
            // A row folded further than this batch by an earlier catch-up keeps its mark; else the batch's.
            let mark = row.foldedThrough.map { max($0, foldedThrough ?? $0) } ?? foldedThrough
            if let mark { statement.bind(mark, at: 6) } else { statement.bindNull(at: 6) }
            try statement.step()
            statement.reset()
        }
    }

    /// Calls `body` with every customer's state, in customer id order.
    public func forEachState(_ body: (CustomerState) throws -> Void) throws {
        let statement = try database.prepare("""
            SELECT c.state FROM streams s JOIN \(CustomerProjection.name) c ON c.stream = s.stream ORDER BY s.customer
            """)
        while try statement.step() {
            try body(try statement.withBytes(0) { try CustomerStateBinaryCodec.decode(UnsafeRawBufferPointer($0)) })
        }
    }

    /// `forEachState` with only what a model fit reads of each state (`CustomerStateBinaryCodec.decodePurchases`).
    public func forEachPurchaseHistory(_ body: (CustomerState) throws -> Void) throws {
        let statement = try database.prepare("""
            SELECT c.state FROM streams s JOIN \(CustomerProjection.name) c ON c.stream = s.stream ORDER BY s.customer
            """)
        while try statement.step() {
            try body(try statement.withBytes(0) { try CustomerStateBinaryCodec.decodePurchases(UnsafeRawBufferPointer($0)) })
        }
    }

    public func allStates() throws -> [CustomerState] {
        var states: [CustomerState] = []
        try forEachState { states.append($0) }
        return states
    }

    public func customerCount() throws -> Int64 {
        try customerCount(in: CustomerProjection.name)
    }

    private func customerCount(in table: String) throws -> Int64 {
        try database.scalarInt("SELECT count(*) FROM \(table)") ?? 0
    }

    /// Drops a table on its own, outside any other statement's transaction. Dropping the replaced
    /// table inside the swap transaction grew the process with the table's size; dropped alone,
    /// after the swap, memory stays flat.
    private func dropTable(_ table: String) throws {
        guard try database.tableExists(table) else { return }
        try database.execute("DROP TABLE \(table)")
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
    /// Workers on their own read-only connections take chunks of stream ids, read each
    /// customer's facts together (the `stream_facts` key order), fold and encode one customer
    /// at a time; this thread writes the chunks' rows in order. Memory is bounded by the chunks
    /// in flight, whatever the size of the log.
    ///
    /// - Parameters:
    ///   - chunkSize: stream ids per chunk (default: enough chunks to keep every worker busy).
    ///   - progress: called with (events folded, head) now and then.
    public func rebuild(clock: () -> Double, chunkSize: Int64? = nil,
                        progress: ((Int64, Int64) -> Void)? = nil) throws -> RebuildStatistics {
        try withRebuildLock { try rebuildHoldingLock(clock: clock, chunkSize: chunkSize, progress: progress) }
    }

    /// Runs `body` while no other rebuild of this file runs, in this process or another: two would
    /// build the same table beside the live one. An exclusive `flock` on `<database>-rebuild.lock`,
    /// which the system lets go of when the process ends however it ends.
    private func withRebuildLock<T>(_ body: () throws -> T) throws -> T {
        let path = database.path + "-rebuild.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError(.lockFailed, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }  // lets go of the lock
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw StoreError(.lockFailed, "cannot lock \(path): \(String(cString: strerror(errno)))")
            }
        }
        return try body()
    }

    private func rebuildHoldingLock(clock: () -> Double, chunkSize: Int64? = nil,
                                    progress: ((Int64, Int64) -> Void)? = nil) throws -> RebuildStatistics {
        let started = clock()
        // The workers read stored facts only: what a bulk load holds is stored first, and in the
        // same transaction the head is read, so that no event up to it is without stored facts.
        let head = try database.inTransaction { try log.mergePendingFacts(); return try log.head() }
        let lastStream = try log.lastStreamID()
        progress?(0, head)
        let next = "\(CustomerProjection.name)_rebuild"
        let replaced = "\(CustomerProjection.name)_replaced"
        // Left by a rebuild that was stopped.
        try dropTable(next)
        try dropTable(replaced)
        try CustomerProjection.createTable(named: next, in: database)

        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
        let chunkSize = max(1, chunkSize ?? max(512, lastStream / Int64(workers * 64)))
        let chunkCount = Int((lastStream + chunkSize - 1) / chunkSize)
        let chunks = RebuildChunks(count: chunkCount, maxAhead: workers * 4)
        let path = database.path
        let group = DispatchGroup()
        for _ in 0..<(chunkCount == 0 ? 0 : workers) {
            DispatchQueue.global().async(group: group) {
                do {
                    let connection = try Database(path: path, readOnly: true)
                    try connection.execute("PRAGMA cache_size=-8192")  // one sequential pass: a big page cache buys nothing
                    let reader = try EventLog(database: connection)
                    // One state, started over for each customer: its collections keep their storage.
                    var state = CustomerState(customer: "")
                    while let (index, chunk) = chunks.take() {
                        let low = 1 + Int64(index) * chunkSize
                        try reader.readStreams(low..<min(low + chunkSize, lastStream + 1), through: head) { stream, customer, facts in
                            try CustomerProjection.fold(stream: stream, customer: customer, facts: &facts, state: &state,
                                                        into: &chunk.buffer, rows: &chunk.rows, events: &chunk.events)
                        }
                        chunks.finish(index, chunk)
                    }
                } catch {
                    chunks.fail(error)
                }
            }
        }
        var folded: Int64 = 0
        var written = 0
        // The new table's pages are written once each and not read again: a small page cache is
        // reused, where the connection's usual one would take fresh memory, page by page, for
        // each of them (a page fault each, on this thread).
        let cacheSize = try database.scalarInt("PRAGMA cache_size") ?? -2000
        try database.execute("PRAGMA cache_size=-4096")
        defer { try? database.execute("PRAGMA cache_size=\(cacheSize)") }
        do {
            // Pages are copied into the file on another thread meanwhile: this one only writes rows.
            try database.withBackgroundCheckpoints {
                for index in 0..<chunkCount {
                    let chunk = try chunks.wait(for: index)
                    try database.inTransaction { try insert(chunk, into: next) }
                    written += chunk.rows.count
                    folded += chunk.events
                    chunks.recycle(chunk)
                    progress?(folded, head)
                }
            }
        } catch {
            chunks.fail(error)
            group.wait()
            throw error
        }
        group.wait()
        // Events appended meanwhile are applied under the write lock, then the tables swap.
        try database.inTransaction {
            let appended = try apply(after: head, into: next)
            folded += Int64(appended)
            // The rows just written are the customers, unless events appended meanwhile added some
            // (counting them otherwise reads the whole table).
            if appended > 0 { written = Int(try customerCount(in: next)) }
            if try checkpoint() < head { try setCheckpoint(head) }
            try database.execute("""
                ALTER TABLE \(CustomerProjection.name) RENAME TO \(replaced);
                ALTER TABLE \(next) RENAME TO \(CustomerProjection.name);
                """)
        }
        try dropTable(replaced)
        progress?(folded, folded)
        return RebuildStatistics(events: folded, customers: written, seconds: clock() - started)
    }
}

@available(*, unavailable)
extension CustomerProjection: Sendable {}

/// One chunk's folded customers: their rows, one buffer holding their ids and states, and how many
/// events were folded. A worker fills it, the writer inserts it and hands it back for another
/// chunk: a rebuild allocates a few of these, not a fresh buffer per chunk (fresh memory is paid
/// for in page faults, page by page).
final class RebuiltChunk: @unchecked Sendable {
    var rows: [CustomerProjection.RebuiltRow] = []
    var buffer = ByteWriter(capacity: 1 << 20)
    var events: Int64 = 0

    /// Empties it for the next chunk, keeping its storage.
    func removeAll() {
        rows.removeAll(keepingCapacity: true)
        buffer.removeAll()
        events = 0
    }
}

/// The chunks of a rebuild: handed to workers in order, their rows handed back to the writer in
/// order, with at most `maxAhead` chunks taken and not yet written.
///
/// Only one thread uses a `RebuiltChunk` at a time: the worker that took it until `finish`, then
/// the writer from `wait(for:)` until `recycle`; the condition's lock orders the hand-overs.
final class RebuildChunks: @unchecked Sendable {
    private let condition = NSCondition()
    private let count: Int
    private let maxAhead: Int
    private var nextToTake = 0
    private var written = 0
    private var done: [Int: RebuiltChunk] = [:]
    /// Chunks written and handed back, to be filled again.
    private var spare: [RebuiltChunk] = []
    private var failure: (any Error)?

    init(count: Int, maxAhead: Int) {
        self.count = count
        self.maxAhead = maxAhead
    }

    /// The next chunk to fold and an empty `RebuiltChunk` to fold it into, nil when all are taken or
    /// the rebuild failed. Waits while too far ahead.
    func take() -> (index: Int, chunk: RebuiltChunk)? {
        condition.lock()
        defer { condition.unlock() }
        while failure == nil, nextToTake < count, nextToTake - written >= maxAhead { condition.wait() }
        guard failure == nil, nextToTake < count else { return nil }
        nextToTake += 1
        return (nextToTake - 1, spare.popLast() ?? RebuiltChunk())
    }

    func finish(_ index: Int, _ chunk: RebuiltChunk) {
        condition.lock()
        done[index] = chunk
        condition.broadcast()
        condition.unlock()
    }

    /// Hands a written chunk back, emptied, for a worker to fill again.
    func recycle(_ chunk: RebuiltChunk) {
        chunk.removeAll()
        condition.lock()
        spare.append(chunk)
        condition.unlock()
    }

    /// Stops the rebuild: workers take no more chunks and the writer's wait throws the first error.
    func fail(_ error: any Error) {
        condition.lock()
        failure = failure ?? error
        condition.broadcast()
        condition.unlock()
    }

    /// Chunk `index`'s rows, once folded; the chunk counts as written.
    func wait(for index: Int) throws -> RebuiltChunk {
        condition.lock()
        defer { condition.unlock() }
        while failure == nil, done[index] == nil { condition.wait() }
        if let failure { throw failure }
        written = index + 1
        condition.broadcast()
        return done.removeValue(forKey: index)!
    }
}
