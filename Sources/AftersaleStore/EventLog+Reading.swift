public import AftersaleCore
internal import AftersaleSQLite

/// An event as the log holds it: with its global position and its version in the customer's stream.
public struct RecordedEvent: Sendable, Equatable {
    /// 1, 2, 3, ... with no gaps: the global order of the log.
    public var position: Int64
    /// 1, 2, 3, ... within the customer's stream.
    public var version: Int64
    /// When the log recorded it (the ingest clock), as opposed to `event.at`.
    public var recorded: Timestamp
    public var event: Event
}

/// Reading: the log in order, by type, one customer's stream, and facts for the projections.
extension EventLog {
    static let columns = "position, version, recorded, id, type, customer, at, at_offset, schema, data, meta"
    /// `columns` of the `events` table aliased `e`, for joins.
    static let qualifiedColumns = "e.position, e.version, e.recorded, e.id, e.type, e.customer, e.at, e.at_offset, e.schema, e.data, e.meta"

    /// Calls `body` for each event after `position`, in log order, up to `limit` events.
    ///
    /// - Parameter includeMeta: false skips parsing `meta`, which folds never read.
    public func read(after position: Int64 = 0, limit: Int = .max, includeMeta: Bool = true,
                     _ body: (RecordedEvent) throws -> Void) throws {
        let statement = try database.prepare("SELECT \(EventLog.columns) FROM events WHERE position > ?1 ORDER BY position LIMIT ?2")
        statement.bind(position, at: 1)
        statement.bind(Int64(limit), at: 2)
        while try statement.step() { try body(try EventLog.decodeRow(statement, includeMeta: includeMeta)) }
    }

    /// `read(after:limit:includeMeta:_:)` that decodes only the events `decodes` selects by their
    /// customer and type (their UTF-8): `body` gets every event's position, and the event itself
    /// only when selected. For readers that need a part of the customers and where the log ends.
    ///
    /// `fewSelected`: most events will not be selected (a later pass of a reactor run takes a
    /// hundredth of them). The log is then scanned for position, customer and type alone, and the
    /// selected events read by position: a row of every column costs several times as much to step
    /// over, and such a run steps over the whole log once per pass.
    public func read(after position: Int64 = 0, limit: Int = .max, includeMeta: Bool = true, fewSelected: Bool = false,
                     decoding decodes: (_ customer: UnsafeBufferPointer<UInt8>, _ type: UnsafeBufferPointer<UInt8>) -> Bool,
                     _ body: (Int64, RecordedEvent?) throws -> Void) throws {
        if fewSelected {
            let scan = try database.prepare("SELECT position, type, customer FROM events WHERE position > ?1 ORDER BY position LIMIT ?2")
            scan.bind(position, at: 1)
            scan.bind(Int64(limit), at: 2)
            while try scan.step() {
                let selected = scan.withBytes(2) { customer in scan.withBytes(1) { type in decodes(customer, type) } }
                let at = scan.int64(0)
                guard selected else {
                    try body(at, nil)
                    continue
                }
                try body(at, try readEvent(at: at, includeMeta: includeMeta))
            }
            return
        }
        let statement = try database.prepare("SELECT \(EventLog.columns) FROM events WHERE position > ?1 ORDER BY position LIMIT ?2")
        statement.bind(position, at: 1)
        statement.bind(Int64(limit), at: 2)
        while try statement.step() {
            let selected = statement.withBytes(5) { customer in statement.withBytes(4) { type in decodes(customer, type) } }
            try body(statement.int64(0), selected ? try EventLog.decodeRow(statement, includeMeta: includeMeta) : nil)
        }
    }

    /// Calls `body` with each event's position, stream id, customer and facts after `position`, in
    /// log order. Facts not stored yet (a bulk load holds them) are derived from the event's JSON.
    /// Stops early, before an event, once `stop` says so.
    public func readFacts(after position: Int64, limit: Int = .max, stop: () -> Bool = { false },
                          _ body: (_ position: Int64, _ stream: Int64, _ customer: String, _ facts: UnsafeRawBufferPointer) throws -> Void) throws {
        let statement = try database.prepare("""
            SELECT e.position, e.customer, f.facts, s.stream FROM events e
            JOIN streams s ON s.customer = e.customer
            LEFT JOIN stream_facts f ON f.stream = s.stream AND f.version = e.version
            WHERE e.position > ?1 ORDER BY e.position LIMIT ?2
            """)
        statement.bind(position, at: 1)
        statement.bind(Int64(limit), at: 2)
        while !stop(), try statement.step() {
            let customer = statement.text(1) ?? ""
            if statement.isNull(2) {
                // Held by a writer of this process (the service's intake): posted to the board.
                if let posted = heldFactsBoard?.facts(at: statement.int64(0)) {
                    try posted.withUnsafeBytes { try body(statement.int64(0), statement.int64(3), customer, $0) }
                    continue
                }
                // Else rare (a bulk load holds it): the event is read again, whole, only then.
                guard let recorded = try event(at: statement.int64(0), includeMeta: false) else { continue }
                let facts = EventFacts.encode(recorded.event)
                try facts.withUnsafeBytes { try body(statement.int64(0), statement.int64(3), customer, $0) }
            } else {
                try statement.withBytes(2) { try body(statement.int64(0), statement.int64(3), customer, UnsafeRawBufferPointer($0)) }
            }
        }
    }

    /// Calls `event` with each event up to position `last` of the customers `whole` selects, decoded,
    /// and `facts` with each other event's customer and facts, all in log order:
    /// for readers that need a few customers' events whole and only the facts of the rest.
    public func read(through last: Int64 = .max, whole: (String) -> Bool,
                     event: (RecordedEvent) throws -> Void,
                     facts: (_ customer: String, _ facts: UnsafeRawBufferPointer) throws -> Void) throws {
        try database.onOneSnapshot {
            try readFacts(after: 0, limit: last >= Int64(Int.max) ? .max : Int(last)) { position, _, customer, bytes in
                guard whole(customer) else { return try facts(customer, bytes) }
                guard let recorded = try self.event(at: position, includeMeta: false) else { return }
                try event(recorded)
            }
        }
    }

    /// The event at `position`, decoded; nil when there is none.
    func event(at position: Int64, includeMeta: Bool) throws -> RecordedEvent? {
        let row = try database.cached("SELECT \(EventLog.columns) FROM events WHERE position = ?1")
        defer { row.reset() }
        row.bind(position, at: 1)
        guard try row.step() else { return nil }
        return try EventLog.decodeRow(row, includeMeta: includeMeta)
    }

    /// The events at `positions` (increasing), each read by its position: for a reader that knows
    /// from an earlier read of the log where its events are, and need not step over the rest.
    public func read(at positions: some Sequence<Int64>, includeMeta: Bool = true, _ body: (RecordedEvent) throws -> Void) throws {
        for position in positions { try body(try readEvent(at: position, includeMeta: includeMeta)) }
    }

    /// The event at a position an earlier read found there: its absence is an error.
    private func readEvent(at position: Int64, includeMeta: Bool) throws -> RecordedEvent {
        guard let recorded = try event(at: position, includeMeta: includeMeta) else {
            throw StoreError(.unknownStoredValue, "event at position \(position) vanished while read")
        }
        return recorded
    }

    /// Runs `body` with every read in it seeing one state of the log (a writer's appends in between
    /// are not seen), for a reader that reads several ways and must see the same events each time.
    public func onOneSnapshot<T>(_ body: () throws -> T) throws -> T {
        try database.onOneSnapshot(body)
    }

    /// Whether every event's facts are stored: false while a bulk load holds some in memory (then
    /// `readStreams` misses them; `readFacts` derives them from the JSON).
    public func factsAreStored() throws -> Bool {
        try storedTailStart() == nil
    }

    /// The highest stream id, 0 for an empty log. Stream ids are dense: 1...`lastStreamID()`.
    public func lastStreamID() throws -> Int64 {
        try database.scalarInt("SELECT max(stream) FROM streams") ?? 0
    }

    /// Streams `streams` (ids), each customer's facts up to `position` in version order, one
    /// customer at a time: `body` gets the customer and their facts, in stream id order.
    /// Reads merged facts only: a writer merges pending ones first (`mergePendingFacts`).
    public func readStreams(_ streams: Range<Int64>, through position: Int64,
                            _ body: (_ stream: Int64, _ customer: String, inout StreamFactsCursor) throws -> Void) throws {
        try database.onOneSnapshot {
            let names = try database.prepare("SELECT stream, customer FROM streams WHERE stream >= ?1 AND stream < ?2 ORDER BY stream")
            names.bind(streams.lowerBound, at: 1)
            names.bind(streams.upperBound, at: 2)
            // Facts of events after `position` are there only when events were appended after it.
            // On a snapshot with none, the scan need not compare each row's position; and it has no
            // upper bound, which SQLite would compare each row's key with: the cursor stops at the
            // first row past the last stream. Each comparison left out is a cost per row saved.
            let after = try head() > position
            let facts = try database.prepare("""
                SELECT stream, facts, position FROM stream_facts WHERE stream >= ?1\(after ? " AND position <= ?2" : "") ORDER BY stream, version
                """)
            facts.bind(streams.lowerBound, at: 1)
            if after { facts.bind(position, at: 2) }
            var cursor = StreamFactsCursor(statement: facts, hasRow: try facts.step())
            while try names.step() {
                cursor.stream = names.int64(0)
                try body(cursor.stream, names.text(1) ?? "", &cursor)
                while try cursor.next() != nil {}  // facts the body did not read
            }
        }
    }

    /// Calls `body` for each event of the given types, in log order.
    public func read(types: [EventType], _ body: (RecordedEvent) throws -> Void) throws {
        let placeholders = types.indices.map { "?\($0 + 1)" }.joined(separator: ",")
        let statement = try database.prepare("SELECT \(EventLog.columns) FROM events WHERE type IN (\(placeholders)) ORDER BY position")
        try statement.bind(types.map { .text($0.rawValue) })
        while try statement.step() { try body(try EventLog.decodeRow(statement)) }
    }

    /// One customer's stream, in version order.
    public func stream(of customer: String) throws -> [RecordedEvent] {
        let statement = try database.prepare("""
            SELECT \(EventLog.qualifiedColumns) FROM streams s JOIN stream_facts f ON f.stream = s.stream
            JOIN events e ON e.position = f.position WHERE s.customer = ?1 ORDER BY f.version
            """)
        statement.bind(customer, at: 1)
        var events: [RecordedEvent] = []
        // One snapshot: a writer storing the held facts in between would move events from the
        // second read to the first.
        try database.onOneSnapshot {
            defer { statement.reset() }
            while try statement.step() { events.append(try EventLog.decodeRow(statement)) }
            // Events whose facts a bulk load holds come after the stored ones, in the same order.
            try readUnstoredTail(of: customer) { events.append($0) }
        }
        return events
    }

    /// The customer's events from `facts_from` on (none unless a bulk load holds facts), in log
    /// order, newest first when `newestFirst`: a scan of that tail of the log, which has no index
    /// by customer.
    private func readUnstoredTail(of customer: String, type: EventType? = nil, through position: Int64 = .max,
                                  newestFirst: Bool = false, _ body: (RecordedEvent) throws -> Void) throws {
        let statement = try database.prepare("""
            SELECT \(EventLog.columns) FROM events WHERE position >= (SELECT value FROM log_settings WHERE name = 'facts_from')
            AND position <= ?2 AND customer = ?1 AND (?3 IS NULL OR type = ?3) ORDER BY position \(newestFirst ? "DESC" : "ASC")
            """)
        statement.bind(customer, at: 1)
        statement.bind(position, at: 2)
        if let type { statement.bind(type.rawValue, at: 3) } else { statement.bindNull(at: 3) }
        while try statement.step() { try body(try EventLog.decodeRow(statement)) }
    }

    static func decodeRow(_ s: Statement, includeMeta: Bool = true) throws -> RecordedEvent {
        let typeName = s.text(4) ?? ""
        guard let type = EventType(rawValue: typeName) else {
            throw StoreError(.unknownStoredValue, "unknown event type '\(typeName)' at position \(s.int64(0)): written by a later version of aftersale?")
        }
        func object(_ column: Int32) throws -> JSONObject {
            try s.withBytes(column) { bytes in try JSONParser.parse(bytes).objectValue ?? JSONObject() }
        }
        let data = try object(9)
        let meta = includeMeta && !s.isNull(10) ? try object(10) : nil
        let event = Event(id: s.text(3) ?? "", type: type, customer: s.text(5) ?? "",
                          at: Timestamp(millis: s.int64(6), offsetMinutes: s.int(7)), schema: s.int(8), data: data, meta: meta)
        return RecordedEvent(position: s.int64(0), version: s.int64(1), recorded: Timestamp(millis: s.int64(2)), event: event)
    }

    /// The latest event of a type in one stream, at or before `position` (walks the stream backwards,
    /// never scans the log).
    public func lastEvent(of type: EventType, in stream: String, through position: Int64 = .max) throws -> RecordedEvent? {
        // The held tail first: a writer storing its facts meanwhile moves events to the stored ones, read second.
        var latest: RecordedEvent?
        try readUnstoredTail(of: stream, type: type, through: position, newestFirst: true) { if latest == nil { latest = $0 } }
        if let latest { return latest }
        let statement = try database.prepare("""
            SELECT \(EventLog.qualifiedColumns) FROM streams s JOIN stream_facts f ON f.stream = s.stream
            JOIN events e ON e.position = f.position
            WHERE s.customer = ?1 AND e.type = ?2 AND f.position <= ?3 ORDER BY f.version DESC LIMIT 1
            """)
        statement.bind(stream, at: 1)
        statement.bind(type.rawValue, at: 2)
        statement.bind(position, at: 3)
        return try statement.step() ? try EventLog.decodeRow(statement) : nil
    }

    /// When the latest customer event happened (engine-written events aside); nil for an empty log.
    public func latestEventTime() throws -> Timestamp? {
        if !database.isReadOnly, !database.isInTransaction,
           try database.scalarInt("SELECT count(*) FROM log_settings WHERE name = 'latest_at'") == 0 {
            try database.inTransaction { try storeLatestEventTime() }
        }
        // With the events whose facts a writer holds (from `facts_from` on): their times are stored
        // with their facts. One statement, one snapshot: a merge in between moves both at once.
        if let known = try database.scalarInt("""
            SELECT max(value, coalesce((SELECT max(at) FROM events WHERE customer != ?1
                                        AND position >= (SELECT value FROM log_settings WHERE name = 'facts_from')), value))
            FROM log_settings WHERE name = 'latest_at'
            """, [.text(EventType.systemCustomer)]) {
            return known == Int64.min ? nil : Timestamp(millis: known)
        }
        // Read-only, or inside another transaction, on a log that has not kept it yet: a scan.
        return try database.scalarInt("SELECT max(at) FROM events WHERE customer != ?1", [.text(EventType.systemCustomer)])
            .map { Timestamp(millis: $0) }
    }

    /// The position of the last event, 0 for an empty log.
    public func head() throws -> Int64 {
        let statement = try statements.head.get()
        defer { statement.reset() }
        return try statement.step() && !statement.isNull(0) ? statement.int64(0) : 0
    }

    /// How many events of each type the log holds, most first.
    public func countsByType() throws -> [(type: String, count: Int64)] {
        let statement = try database.prepare("SELECT type, count(*) FROM events GROUP BY type ORDER BY count(*) DESC, type")
        var counts: [(String, Int64)] = []
        while try statement.step() { counts.append((statement.text(0) ?? "", statement.int64(1))) }
        return counts
    }

    public func customerCount() throws -> Int64 {
        try database.scalarInt("SELECT count(*) FROM streams WHERE customer != ?1", [.text(EventType.systemCustomer)]) ?? 0
    }
}


/// One customer's stored facts during `EventLog.readStreams`, in version order.
public struct StreamFactsCursor {
    let statement: Statement
    var hasRow: Bool
    var stream: Int64 = 0
    /// The current row was handed out: step before looking again.
    private var handedOut = false

    init(statement: Statement, hasRow: Bool) {
        self.statement = statement
        self.hasRow = hasRow
    }

    /// The next event's facts of the current customer (valid until the next call), nil after the last.
    public mutating func next() throws -> UnsafeRawBufferPointer? {
        if handedOut {
            hasRow = try statement.step()
            handedOut = false
        }
        // Facts of a stream below the current one were left by the body: skip them.
        var rowStream: Int64 = 0
        while hasRow {
            rowStream = statement.int64(0)
            if rowStream >= stream { break }
            hasRow = try statement.step()
        }
        guard hasRow, rowStream == stream else { return nil }
        handedOut = true
        return statement.withBytes(1) { UnsafeRawBufferPointer($0) }
    }

    /// The log position of the facts `next()` handed out last.
    public var position: Int64 { statement.int64(2) }
}
