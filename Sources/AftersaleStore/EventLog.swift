public import AftersaleCore

/// An event ready to be written: its data already in canonical text.
///
/// Encoding is pure work; the ingest pipeline does it on a thread other than the writer's.
public struct EncodedEvent: Sendable, Equatable {
    public var id: String
    public var type: EventType
    public var customer: String
    public var at: Timestamp
    public var schema: Int
    /// JSON of `data`: canonical (sorted keys) when encoded from an `Event`, or exactly as sent.
    /// Identity is judged on the canonical form either way.
    public var data: String
    /// Compact JSON of `meta`, or nil.
    public var meta: String?

    public init(_ event: Event) {
        self.init(event, dataText: JSONValue.object(event.data).canonicalText, metaText: event.meta.map { JSONValue.object($0).compactText })
    }

    /// An event whose `data` and `meta` text are taken as they were sent (already validated JSON objects).
    public init(_ event: Event, dataText: String, metaText: String?) {
        id = event.id
        type = event.type
        customer = event.customer
        at = event.at
        schema = event.schema
        data = dataText
        meta = metaText
    }

    /// The event as one NDJSON line in the catalogue's envelope, equivalent to what was sent.
    public var jsonLine: String {
        var line = "{\"id\":" + JSONValue.quoted(id) + ",\"type\":\"" + type.rawValue + "\",\"customer\":" + JSONValue.quoted(customer)
        line += ",\"at\":\"" + at.rfc3339WithOffset + "\""
        if schema != type.currentSchemaVersion { line += ",\"schema\":\(schema)" }
        line += ",\"data\":" + data
        if let meta { line += ",\"meta\":" + meta }
        return line + "}"
    }
}

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

/// The append-only event log in one SQLite file.
///
/// Positions are assigned by SQLite's rowid inside the single writer's `BEGIN IMMEDIATE`
/// transaction and nothing is ever deleted, so the global order is gapless by construction.
public final class EventLog {
    public let database: Database
    /// Last known version per stream, valid while no other connection has written.
    private var versions: [String: Int64] = [:]
    private var seenDataVersion: Int64 = -1

    public static let schemaVersion = 1

    public convenience init(path: String) throws {
        try self.init(database: Database(path: path))
    }

    public init(database: Database) throws {
        self.database = database
        try migrate()
    }

    func migrate() throws {
        guard database.userVersion < EventLog.schemaVersion else { return }
        try database.inTransaction {
            try database.execute("""
                CREATE TABLE IF NOT EXISTS events (
                    position  INTEGER PRIMARY KEY,
                    id        TEXT    NOT NULL,
                    type      TEXT    NOT NULL,
                    customer  TEXT    NOT NULL,
                    version   INTEGER NOT NULL,
                    at        INTEGER NOT NULL,
                    at_offset INTEGER NOT NULL,
                    schema    INTEGER NOT NULL,
                    data      TEXT    NOT NULL,
                    meta      TEXT,
                    recorded  INTEGER NOT NULL
                ) STRICT;
                CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events(id);
                CREATE UNIQUE INDEX IF NOT EXISTS events_stream ON events(customer, version);
                """)
            try database.setUserVersion(EventLog.schemaVersion)
        }
    }

    // MARK: - Writing

    /// Appends a batch atomically: every event gets an outcome, or (on a version conflict) none does.
    ///
    /// - Parameters:
    ///   - expected: per stream, the version the caller last saw; a mismatch throws `VersionConflict`.
    ///   - recorded: the ingest clock's reading, stored beside each event.
    public func append(_ events: [EncodedEvent], expected: [String: ExpectedVersion] = [:],
                       recorded: Timestamp) throws -> [AppendOutcome] {
        try database.inTransaction { try appendInTransaction(events, expected: expected, recorded: recorded) }
    }

    /// `append` for a caller that already holds the write transaction (the reactor's dispatch).
    public func appendInTransaction(_ events: [EncodedEvent], expected: [String: ExpectedVersion] = [:],
                                    recorded: Timestamp) throws -> [AppendOutcome] {
        try refreshVersionCacheIfOthersWrote()
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
        var touched: [String: Int64] = [:]
        do {
            for event in events {
                let outcome = try insert(event, recorded: recorded)
                if case .appended(_, let version) = outcome { touched[event.customer] = version }
                outcomes.append(outcome)
            }
        } catch {
            // Versions handed out inside a rolled-back transaction are not real.
            for stream in touched.keys { versions[stream] = nil }
            throw error
        }
        return outcomes
    }

    /// Forgets cached stream versions: the caller's transaction rolled back.
    public func forgetCachedVersions() { versions.removeAll() }

    /// The append statement, prepared once: looking it up by its SQL text for every event costs a hash of the text.
    private lazy var insertStatement: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
        try database.prepare("""
            INSERT INTO events (id, type, customer, version, at, at_offset, schema, data, meta, recorded)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id) DO NOTHING
            """)
    }

    private func insert(_ event: EncodedEvent, recorded: Timestamp) throws -> AppendOutcome {
        let version = try currentVersion(of: event.customer) + 1
        let statement = try insertStatement.get()
        defer { statement.reset() }
        statement.bind(event.id, at: 1)
        statement.bind(event.type.rawValue, at: 2)
        statement.bind(event.customer, at: 3)
        statement.bind(version, at: 4)
        statement.bind(event.at.millis, at: 5)
        statement.bind(Int64(event.at.offsetMinutes), at: 6)
        statement.bind(Int64(event.schema), at: 7)
        statement.bind(event.data, at: 8)
        statement.bind(optional: event.meta, at: 9)
        statement.bind(recorded.millis, at: 10)
        try statement.step()
        if database.changes == 1 {
            versions[event.customer] = version
            return .appended(position: database.lastInsertRowID, version: version)
        }
        return try classifyResent(event)
    }

    /// A re-sent id: the same content is a duplicate, anything else a conflict.
    private func classifyResent(_ event: EncodedEvent) throws -> AppendOutcome {
        let lookup = try database.cached("SELECT position, type, customer, at, schema, data FROM events WHERE id = ?1")
        lookup.bind(event.id, at: 1)
        guard try lookup.step() else {
            throw SQLiteError(code: 1, message: "event \(event.id) was refused but is not in the log", sql: nil)
        }
        let position = lookup.int64(0)
        let storedData = lookup.text(5) ?? ""
        let sameEnvelope = lookup.text(1) == event.type.rawValue && lookup.text(2) == event.customer
            && lookup.int64(3) == event.at.millis && lookup.int(4) == event.schema
        lookup.reset()
        // Text as sent may differ in key order or spacing: judge the canonical forms.
        let same = sameEnvelope && (storedData == event.data
            || (try? JSONParser.parse(storedData).canonicalText) == (try? JSONParser.parse(event.data).canonicalText))
        return same ? .duplicate(position: position) : .conflict(position: position)
    }

    /// The stream's last version, 0 when it has no events.
    public func currentVersion(of stream: String) throws -> Int64 {
        if let v = versions[stream] { return v }
        let statement = try database.cached("SELECT max(version) FROM events WHERE customer = ?1")
        statement.bind(stream, at: 1)
        let v = try statement.step() && !statement.isNull(0) ? statement.int64(0) : 0
        statement.reset()
        versions[stream] = v
        return v
    }

    private func refreshVersionCacheIfOthersWrote() throws {
        let dataVersion = try database.dataVersion()
        if dataVersion != seenDataVersion {
            versions.removeAll(keepingCapacity: true)
            seenDataVersion = dataVersion
        }
    }

    // MARK: - Reading

    static let columns = "position, version, recorded, id, type, customer, at, at_offset, schema, data, meta"

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

    /// Calls `body` for each event whose customer passes `customer`, in log order, up to `position`;
    /// other rows are skipped before their JSON is parsed.
    public func read(through position: Int64, customer: (String) -> Bool, _ body: (RecordedEvent) throws -> Void) throws {
        let statement = try database.prepare("SELECT \(EventLog.columns) FROM events WHERE position <= ?1 ORDER BY position")
        statement.bind(position, at: 1)
        while try statement.step() {
            guard customer(statement.text(5) ?? "") else { continue }
            try body(try EventLog.decodeRow(statement, includeMeta: false))
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
        let statement = try database.prepare("SELECT \(EventLog.columns) FROM events WHERE customer = ?1 ORDER BY version")
        statement.bind(customer, at: 1)
        var events: [RecordedEvent] = []
        while try statement.step() { events.append(try EventLog.decodeRow(statement)) }
        return events
    }

    static func decodeRow(_ s: Statement, includeMeta: Bool = true) throws -> RecordedEvent {
        let typeName = s.text(4) ?? ""
        guard let type = EventType(rawValue: typeName) else {
            throw SQLiteError(code: 1, message: "unknown event type '\(typeName)' at position \(s.int64(0))", sql: nil)
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

    /// The latest event of a type in one stream (uses the stream index, never a scan of the log).
    public func lastEvent(of type: EventType, in stream: String) throws -> RecordedEvent? {
        let statement = try database.prepare(
            "SELECT \(EventLog.columns) FROM events WHERE customer = ?1 AND type = ?2 ORDER BY version DESC LIMIT 1")
        statement.bind(stream, at: 1)
        statement.bind(type.rawValue, at: 2)
        return try statement.step() ? try EventLog.decodeRow(statement) : nil
    }

    /// When the latest customer event happened (engine-written events aside); nil for an empty log.
    public func latestEventTime() throws -> Timestamp? {
        try database.scalarInt("SELECT max(at) FROM events WHERE customer != ?1", [.text(EventType.systemCustomer)])
            .map { Timestamp(millis: $0) }
    }

    /// The position of the last event, 0 for an empty log.
    public func head() throws -> Int64 {
        try database.scalarInt("SELECT max(position) FROM events") ?? 0
    }

    /// How many events of each type the log holds, most first.
    public func countsByType() throws -> [(type: String, count: Int64)] {
        let statement = try database.prepare("SELECT type, count(*) FROM events GROUP BY type ORDER BY count(*) DESC, type")
        var counts: [(String, Int64)] = []
        while try statement.step() { counts.append((statement.text(0) ?? "", statement.int64(1))) }
        return counts
    }

    public func customerCount() throws -> Int64 {
        try database.scalarInt("SELECT count(DISTINCT customer) FROM events WHERE customer != ?1", [.text(EventType.systemCustomer)]) ?? 0
    }
}

@available(*, unavailable)
extension EventLog: Sendable {}
