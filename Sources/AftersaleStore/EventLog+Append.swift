public import AftersaleCore
internal import AftersaleSQLite

/// What happened to one event of an appended batch.
public enum AppendOutcome: Sendable, Equatable {
    case appended(position: Int64, version: Int64)
    /// The same id with identical content was already in the log: skipped.
    case duplicate(position: Int64)
    /// The same id with different content is in the log: refused, nothing overwritten.
    case conflict(position: Int64)
}

/// What the writer expects a stream's version to be before its batch is appended.
public enum ExpectedVersion: Sendable, Equatable, CustomStringConvertible {
    /// The stream must not exist yet.
    case noStream
    /// The stream's last event must have exactly this version.
    case exactly(Int64)

    public var description: String {
        switch self {
        case .noStream: "no stream"
        case .exactly(let v): "version \(v)"
        }
    }
}

/// A stale writer: the stream moved on since the writer read it. The batch was not appended.
public struct VersionConflict: Error, Sendable, Equatable, CustomStringConvertible {
    public var stream: String
    public var expected: ExpectedVersion
    /// The stream's actual version (0 when it does not exist).
    public var actual: Int64

    public init(stream: String, expected: ExpectedVersion, actual: Int64) {
        self.stream = stream
        self.expected = expected
        self.actual = actual
    }

    public var description: String {
        "version conflict on stream '\(stream)': expected \(expected), actual version \(actual == 0 ? "none (no stream)" : String(actual))"
    }
}

/// Appending: grouped inserts, one by one where a group holds an id the log has, and what each
/// event's outcome is.
extension EventLog {
    /// Appends a batch atomically: every event gets an outcome, or (on a version conflict) none does.
    ///
    /// - Parameters:
    ///   - expected: per stream, the version the caller last saw; a mismatch throws `VersionConflict`.
    ///   - recorded: the ingest clock's reading, stored beside each event.
    public func append(_ events: [EncodedEvent], expected: [String: ExpectedVersion] = [:],
                       recorded: Timestamp) throws -> [AppendOutcome] {
        try database.inTransaction { try appendInTransaction(events, expected: expected, recorded: recorded) }
    }

    /// `append` for a caller that already holds the write transaction (`withWriteTransaction`, the reactor's dispatch).
    public func appendInTransaction(_ events: [EncodedEvent], expected: [String: ExpectedVersion] = [:],
                                    recorded: Timestamp) throws -> [AppendOutcome] {
        // Personal data is sealed before anything is written: the keys it needs are committed to
        // their own file first, so no event is ever stored under a key that was not kept.
        let events = try vault.map { try $0.seal(events) } ?? events
        if vault != nil, !markedSealed { try markSealed() }
        try prepareStreamHeads()
        for (stream, expectation) in expected {
            let actual = try currentVersion(of: stream)
            switch expectation {
            case .noStream where actual != 0, .exactly(_) where expectation != .exactly(actual):
                throw VersionConflict(stream: stream, expected: expectation, actual: actual)
            default: break
            }
        }
        var outcomes: [AppendOutcome] = []
        outcomes.reserveCapacity(events.count)
        let heldBefore = held.keys.count
        do {
            var next = events.startIndex
            // Groups to append one by one after a group that held an id the log has: a file sent
            // again holds nothing else, and trying every group first costs more than it saves.
            // Doubles while groups keep failing, up to 64.
            var (skip, backoff) = (0, 1)
            while next < events.endIndex {
                let end = min(next + EventLog.rowsPerInsert, events.endIndex)
                // Whole groups in one statement; a group with an id the log holds, and the rest, one by one.
                var grouped = false
                if skip > 0 {
                    skip -= 1
                } else if end - next == EventLog.rowsPerInsert {
                    grouped = try insertGroup(events[next..<end], recorded: recorded, into: &outcomes)
                    (skip, backoff) = grouped ? (0, 1) : (backoff, min(backoff * 2, 64))
                }
                if !grouped {
                    for event in events[next..<end] { outcomes.append(try insert(event, recorded: recorded)) }
                }
                next = end
            }
            if !defersFactsMerge || held.keys.count >= factsMergeInterval {
                // After the refresh above, the stored `facts_from` is this connection's, if any.
                try storePendingFacts(factsFrom: held.start)
            } else if held.start == nil, held.keys.count > heldBefore {
                // Committed with the events: their facts are not stored until the merge.
                let start = held.keys[heldBefore].position
                try database.cached("INSERT INTO log_settings (name, value) VALUES ('facts_from', ?1)").run([.int(start)])
                held.start = start
            }
            try keepLatestEventTime(events, outcomes)
        } catch {
            // Stream ids and versions handed out inside a rolled-back transaction are not real, nor
            // are the facts of its events. The versions of the streams whose facts are held are not
            // in `stream_facts` either: forget everything; the next append derives what is missing.
            forgetCachedVersions()
            throw error
        }
        return outcomes
    }

    /// Moves `latest_at` (see `storeLatestEventTime()`) to the latest customer event appended, once the
    /// log keeps it; while this connection holds the events' facts, when it stores them. Written with
    /// each commit, its row's page was one of the six or seven each of the service's commits wrote
    /// (`tools/results/serve-load.md`); readers add the times of the events whose facts are held
    /// (`latestEventTime`).
    private func keepLatestEventTime(_ events: [EncodedEvent], _ outcomes: [AppendOutcome]) throws {
        var latest = Int64.min
        for (event, outcome) in zip(events, outcomes) where event.customer != EventType.systemCustomer {
            if case .appended = outcome, event.at.millis > latest { latest = event.at.millis }
        }
        guard latest > Int64.min else { return }
        if held.start != nil {
            held.latestAt = max(held.latestAt, latest)
        } else {
            try moveLatestEventTime(to: latest)
        }
    }

    /// Moves `latest_at` to `latest` if that is later (inside a write transaction).
    func moveLatestEventTime(to latest: Int64) throws {
        guard latest > Int64.min else { return }
        try database.cached("UPDATE log_settings SET value = max(value, ?1) WHERE name = 'latest_at'").run([.int(latest)])
    }

    /// Rows per multi-row INSERT: each statement pays a fixed cost (preparing the step, binding,
    /// closing cursors, halting); one for 32 rows pays it once.
    static let rowsPerInsert = 32

    /// What one group of rows needs, kept from group to group (their capacity is reused).
    struct GroupBuffers {
        /// The text of a group's rows, copied together so that the statement can borrow it.
        var text: [UInt8] = []
        var versions: [Int64] = []
        /// Each event's stream head before it, to take the group back.
        var undo: [(customer: String, head: StreamHeads.Head)] = []
    }

    /// Appends `rowsPerInsert` events with one statement, when none of them is in the log already.
    /// Otherwise appends nothing and returns false: the caller appends them one by one, which tells
    /// duplicates from conflicts.
    private func insertGroup(_ events: ArraySlice<EncodedEvent>, recorded: Timestamp,
                             into outcomes: inout [AppendOutcome]) throws -> Bool {
        let last = try head()
        // The buffers, the heads and the held facts are locals while the group is built: a class's
        // property is checked for exclusive access at each use, for every event.
        var group = GroupBuffers()
        var heads = StreamHeads()
        var held = HeldFacts()
        swap(&group, &self.group)
        swap(&heads, &self.heads)
        swap(&held, &self.held)
        defer {
            swap(&group, &self.group)
            swap(&heads, &self.heads)
            swap(&held, &self.held)
        }
        group.versions.removeAll(keepingCapacity: true)
        group.undo.removeAll(keepingCapacity: true)
        group.text.removeAll(keepingCapacity: true)
        // The buffer is passed in, not captured: a local function's captured `var` is checked for
        // exclusive access at every use, dynamically.
        func appendText(_ text: String, to buffer: inout [UInt8]) {
            var text = text
            text.withUTF8 { buffer.append(contentsOf: $0) }  // a copy of bytes, not a walk over the view
        }
        // Events are read in place: a copy of an event retains its texts, and releases them.
        try events.withUnsafeBufferPointer { events in
            for i in events.indices {
                // One hash of the customer per event: the version is bumped in place.
                let index = try heads.index(of: events[i].customer, stored: storedHead)
                let head = heads.byCustomer.values[index]
                group.undo.append((events[i].customer, head))
                heads.byCustomer.values[index].version += 1
                group.versions.append(head.version + 1)
                appendText(events[i].id, to: &group.text)
                appendText(events[i].type.rawValue, to: &group.text)
                appendText(events[i].customer, to: &group.text)
                group.text.append(contentsOf: events[i].dataAndMetaUTF8)
            }
            let statement = try statements.insertGroup.get()
            defer { statement.reset() }  // clears the bindings too: borrowed text is let go
            try group.text.withUnsafeBytes { text in
                var offset = 0
                func borrow(_ count: Int, at index: Int32) {
                    statement.bind(borrowedUTF8: UnsafeRawBufferPointer(rebasing: text[offset..<(offset + count)]), at: index)
                    offset += count
                }
                for row in events.indices {
                    let first = Int32(row * 10)
                    borrow(events[row].id.utf8.count, at: first + 1)
                    borrow(events[row].type.rawValue.utf8.count, at: first + 2)
                    borrow(events[row].customer.utf8.count, at: first + 3)
                    statement.bind(group.versions[row], at: first + 4)
                    statement.bind(events[row].at.millis, at: first + 5)
                    statement.bind(Int64(events[row].at.offsetMinutes), at: first + 6)
                    statement.bind(Int64(events[row].schema), at: first + 7)
                    borrow(events[row].dataUTF8Count, at: first + 8)
                    if let meta = events[row].metaUTF8Count { borrow(meta, at: first + 9) } else { statement.bindNull(at: first + 9) }
                    statement.bind(recorded.millis, at: first + 10)
                }
                try statement.step()
            }
        }
        guard database.changes == events.count, database.lastInsertRowID == last + Int64(events.count) else {
            // Some id is in the log already (or twice in the group): take the rows back, so that
            // positions stay gapless, and the versions handed out.
            try database.cached("DELETE FROM events WHERE position > ?1").run([.int(last)])
            for (customer, head) in group.undo.reversed() { heads.byCustomer[customer] = head }
            return false
        }
        try events.withUnsafeBufferPointer { events in
            for row in events.indices {
                let position = last + 1 + Int64(row)
                // A new customer's stream may have been made for an earlier event of this group.
                var stream = group.undo[row].head.stream ?? heads.byCustomer[events[row].customer]?.stream
                if stream == nil {
                    let create = try statements.insertStream.get()
                    defer { create.reset() }
                    create.bind(events[row].customer, at: 1)
                    try create.step()
                    stream = database.lastInsertRowID
                    heads.byCustomer[events[row].customer]?.stream = stream
                }
                held.append(stream: stream!, version: group.versions[row], position: position, facts: events[row].factsBytes)
                outcomes.append(.appended(position: position, version: group.versions[row]))
            }
        }
        return true
    }

    private func insert(_ event: EncodedEvent, recorded: Timestamp) throws -> AppendOutcome {
        let index = try heads.index(of: event.customer, stored: storedHead)
        var head = heads.byCustomer.values[index]
        let version = head.version + 1
        let statement = try statements.insertOne.get()
        defer { statement.reset() }  // clears the bindings too: borrowed text is let go
        statement.bind(event.type.rawValue, at: 2)
        statement.bind(version, at: 4)
        statement.bind(event.at.millis, at: 5)
        statement.bind(Int64(event.at.offsetMinutes), at: 6)
        statement.bind(Int64(event.schema), at: 7)
        statement.bind(recorded.millis, at: 10)
        // The event's text is bound where it is for the step, not copied by SQLite.
        var (id, customer) = (event.id, event.customer)
        try id.withUTF8 { id in
            try customer.withUTF8 { customer in
                try event.withTexts { (data, meta, _) throws(SQLiteError) in
                    statement.bind(borrowedUTF8: UnsafeRawBufferPointer(id), at: 1)
                    statement.bind(borrowedUTF8: UnsafeRawBufferPointer(customer), at: 3)
                    statement.bind(borrowedUTF8: data, at: 8)
                    if let meta { statement.bind(borrowedUTF8: meta, at: 9) } else { statement.bindNull(at: 9) }
                    try statement.step()
                }
            }
        }
        guard database.changes == 1 else { return try classifyResent(event) }
        let position = database.lastInsertRowID
        let stream: Int64
        if let known = head.stream {
            stream = known
        } else {
            let create = try statements.insertStream.get()
            defer { create.reset() }
            create.bind(event.customer, at: 1)
            try create.step()
            stream = database.lastInsertRowID
        }
        // Written with the batch's others at the end of the append, or at a bulk load's merge.
        held.append(stream: stream, version: version, position: position, facts: event.factsBytes)
        head = StreamHeads.Head(stream: stream, version: version)
        heads.byCustomer[event.customer] = head
        return .appended(position: position, version: version)
    }

    /// A re-sent id: the same content is a duplicate, anything else a conflict.
    private func classifyResent(_ event: EncodedEvent) throws -> AppendOutcome {
        let lookup = try database.cached("SELECT position, type, customer, at, schema, data FROM events WHERE id = ?1")
        lookup.bind(event.id, at: 1)
        guard try lookup.step() else {
            throw StoreError(.inconsistentLog, "event \(event.id) was refused but is not in the log")
        }
        let position = lookup.int64(0)
        let storedData = lookup.text(5) ?? ""
        let sameEnvelope = lookup.text(1) == event.type.rawValue && lookup.text(2) == event.customer
            && lookup.int64(3) == event.at.millis && lookup.int(4) == event.schema
        lookup.reset()
        // Text as sent may differ in key order or spacing: judge the canonical forms.
        var same = sameEnvelope && (storedData == event.data
            || (try? JSONParser.parse(storedData).canonicalText) == (try? JSONParser.parse(event.data).canonicalText))
        if !same, sameEnvelope, let vault, case .object(let stored)? = try? JSONParser.parse(storedData),
           case .object(let sent)? = try? JSONParser.parse(event.data) {
            // Sealed values differ by their nonces: judge what they hold. What an erased key sealed
            // cannot be compared, and is taken to be what was sent: a forgotten customer's events
            // sent again are duplicates, never a way back in.
            func opened(_ data: JSONObject) -> (Event, erased: [String]) {
                let (event, erased, unavailable) = vault.reveal(Event(id: event.id, type: event.type, customer: event.customer,
                                                                      at: event.at, schema: event.schema, data: data))
                return (event, erased + unavailable)
            }
            let (storedEvent, erased) = opened(stored)
            var (sentEvent, _) = opened(sent)
            for member in erased { sentEvent.data[member] = nil }
            same = JSONValue.object(storedEvent.data).canonicalText == JSONValue.object(sentEvent.data).canonicalText
        }
        return same ? .duplicate(position: position) : .conflict(position: position)
    }

    /// The stream's last version, 0 when it has no events.
}

/// The append's statements, each prepared once, on first use: looking one up by its SQL text for
/// every event or group would cost a hash of the text each time.
final class AppendStatements {
    let database: Database

    init(database: Database) {
        self.database = database
    }

    /// Prepared once: a many-row append asks for the head before each group.
    lazy var head: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
        try database.prepare("SELECT max(position) FROM events")
    }

    /// The append statement, prepared once: looking it up by its SQL text for every event costs a hash of the text.
    lazy var insertOne: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
        try database.prepare("""
            INSERT INTO events (id, type, customer, version, at, at_offset, schema, data, meta, recorded)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id) DO NOTHING
            """)
    }

    lazy var insertStream: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
        try database.prepare("INSERT INTO streams (customer) VALUES (?1)")
    }

    lazy var insertGroup: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
        let columns = 10
        let rows = (0..<EventLog.rowsPerInsert).map { row in
            "(" + (1...columns).map { "?\(row * columns + $0)" }.joined(separator: ", ") + ")"
        }
        // OR IGNORE: a row refused (an id the log holds) leaves the others, counted below, and a
        // statement that never stops half-way needs no statement journal to undo its first rows.
        return try database.prepare("""
            INSERT OR IGNORE INTO events (id, type, customer, version, at, at_offset, schema, data, meta, recorded)
            VALUES \(rows.joined(separator: ", "))
            """)
    }
}
