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
    /// `data`'s UTF-8, then `meta`'s, then the facts: one buffer, so that an event is one
    /// allocation, not three (ingest makes one per line on its reading thread and frees it there;
    /// making and freeing the three was about a tenth of that thread).
    private var texts: [UInt8]
    private var dataCount: Int
    /// -1: no `meta`.
    private var metaCount: Int

    /// JSON of `data`: canonical (sorted keys) when encoded from an `Event`, or exactly as sent.
    /// Identity is judged on the canonical form either way.
    public var data: String {
        get { withTexts { data, _, _ in String(decoding: data, as: UTF8.self) } }
        set { self = EncodedEvent(copying: self, data: newValue, meta: meta, facts: facts) }
    }

    /// Compact JSON of `meta`, or nil.
    public var meta: String? {
        get { withTexts { _, meta, _ in meta.map { String(decoding: $0, as: UTF8.self) } } }
        set { self = EncodedEvent(copying: self, data: data, meta: newValue, facts: facts) }
    }

    /// What projections fold (`EventFacts`), stored beside the event so a rebuild never parses JSON.
    public var facts: [UInt8] {
        get { withTexts { _, _, facts in Array(facts) } }
        set { self = EncodedEvent(copying: self, data: data, meta: meta, facts: newValue) }
    }

    /// The UTF-8 of `data` and of `meta` (nil for none), and the facts, where they are.
    public func withTexts<R, E: Error>(_ body: (_ data: UnsafeRawBufferPointer, _ meta: UnsafeRawBufferPointer?,
                                                _ facts: UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let (dataCount, metaCount) = (self.dataCount, self.metaCount)
        let result: Result<R, E> = texts.withUnsafeBytes { texts in
            let metaEnd = dataCount + max(metaCount, 0)
            do throws(E) {
                return .success(try body(UnsafeRawBufferPointer(rebasing: texts[0..<dataCount]),
                                         metaCount < 0 ? nil : UnsafeRawBufferPointer(rebasing: texts[dataCount..<metaEnd]),
                                         UnsafeRawBufferPointer(rebasing: texts[metaEnd...])))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// `data`'s UTF-8 then `meta`'s, back to back, as the writer copies them for its statement.
    var dataAndMetaUTF8: ArraySlice<UInt8> { texts[0..<(dataCount + max(metaCount, 0))] }
    /// The facts' bytes.
    var factsBytes: ArraySlice<UInt8> { texts[(dataCount + max(metaCount, 0))...] }

    /// The byte length of `data`'s UTF-8.
    public var dataUTF8Count: Int { dataCount }
    /// The byte length of `meta`'s UTF-8, nil for none.
    public var metaUTF8Count: Int? { metaCount < 0 ? nil : metaCount }

    public init(_ event: Event) {
        self.init(event, dataText: JSONValue.object(event.data).canonicalText, metaText: event.meta.map { JSONValue.object($0).compactText })
    }

    /// An event from its parts, as ingest validates them off a line: `data` and `meta` as sent.
    public init(id: String, type: EventType, customer: String, at: Timestamp, schema: Int, data: String, meta: String?, facts: [UInt8]) {
        var (data, meta) = (data, meta)
        let metaCount = meta?.utf8.count ?? -1
        var texts: [UInt8] = []
        texts.reserveCapacity(data.utf8.count + max(metaCount, 0) + facts.count)
        data.withUTF8 { texts.append(contentsOf: $0) }
        meta?.withUTF8 { texts.append(contentsOf: $0) }
        texts.append(contentsOf: facts)
        self.init(id: id, type: type, customer: customer, at: at, schema: schema, texts: texts, dataCount: data.utf8.count, metaCount: metaCount)
    }

    /// An event from its parts as bytes: `data`'s and `meta`'s UTF-8 (already validated JSON
    /// objects, as sent) and its facts, copied into the event's one buffer.
    public init(id: String, type: EventType, customer: String, at: Timestamp, schema: Int,
                dataUTF8: UnsafeBufferPointer<UInt8>, metaUTF8: UnsafeBufferPointer<UInt8>?, facts: UnsafeRawBufferPointer) {
        let metaCount = metaUTF8?.count ?? -1
        let texts = [UInt8](unsafeUninitializedCapacity: dataUTF8.count + max(metaCount, 0) + facts.count) { buffer, count in
            var offset = 0
            func copy(_ part: UnsafeRawBufferPointer) {
                guard let base = part.baseAddress, part.count > 0 else { return }
                UnsafeMutableRawPointer(buffer.baseAddress! + offset).copyMemory(from: base, byteCount: part.count)
                offset += part.count
            }
            copy(UnsafeRawBufferPointer(dataUTF8))
            if let metaUTF8 { copy(UnsafeRawBufferPointer(metaUTF8)) }
            copy(facts)
            count = offset
        }
        self.init(id: id, type: type, customer: customer, at: at, schema: schema, texts: texts, dataCount: dataUTF8.count, metaCount: metaCount)
    }

    /// An event whose `data` and `meta` text are taken as they were sent (already validated JSON objects).
    public init(_ event: Event, dataText: String, metaText: String?) {
        self.init(id: event.id, type: event.type, customer: event.customer, at: event.at, schema: event.schema,
                  data: dataText, meta: metaText, facts: EventFacts.encode(event))
    }

    private init(id: String, type: EventType, customer: String, at: Timestamp, schema: Int, texts: [UInt8], dataCount: Int, metaCount: Int) {
        self.id = id
        self.type = type
        self.customer = customer
        self.at = at
        self.schema = schema
        self.texts = texts
        self.dataCount = dataCount
        self.metaCount = metaCount
    }

    private init(copying event: EncodedEvent, data: String, meta: String?, facts: [UInt8]) {
        self.init(id: event.id, type: event.type, customer: event.customer, at: event.at, schema: event.schema,
                  data: data, meta: meta, facts: facts)
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
///
/// Tables: `events` (one row per event, its JSON as sent), `streams` (one row per customer: a
/// dense integer stream id) and `stream_facts` (per stream and version: the event's position and
/// its `EventFacts`, clustered by stream). The primary key of `stream_facts` is the uniqueness of
/// (stream, version); scanning it in key order hands a rebuild every customer's events together,
/// already decoded to what the fold reads, without touching the JSON.
///
/// An append writes its events' facts into `stream_facts` at its end, sorted by key. A bulk load
/// (`defersFactsMerge`) would touch a page per customer in every batch that way (the key is random
/// in arrival order), so it keeps its events' facts in memory and merges them into `stream_facts`
/// in key order every `factsMergeInterval` events and at the end, touching each page once per merge.
///
/// Facts are derived from the JSON, so the log never depends on them: while a bulk load holds
/// facts in memory, the row `facts_from` of `log_settings` (committed with its first such event)
/// says from which position on events may have no facts stored. Readers take those events' from
/// the `events` table; any other writer, and the next one to open the file after a kill, derives
/// their facts from the JSON and stores them before it reads a version (`mergePendingFacts`).
public final class EventLog {
    public let database: Database
    /// Last known stream id and version per customer, valid while no other connection has written.
    private var versions: [String: StreamHead] = [:]
    /// True while `versions` holds every stream of the log: it was empty on a log with no streams,
    /// and this connection made each one since. A customer it lacks then has none, with no query
    /// (on a first import, one per new customer).
    private var versionsHoldEveryStream = false
    private var seenDataVersion: Int64 = -1
    /// Where this connection's facts in memory start (its `facts_from`): it holds the facts of
    /// every event from there on (`newKeys`, `newBytes`), in position order. Nil when it holds none.
    private var tailStart: Int64?
    /// A bulk load's setting: keep facts pending across appends, merging every `factsMergeInterval`.
    public var defersFactsMerge = false
    public var factsMergeInterval = 1_000_000
    /// Whether a bulk load's held facts are worth merging before `factsMergeInterval` (a writer with
    /// nothing else to do then merges them): a merge rewrites every `stream_facts` page it lands in,
    /// which is cheap while the table is small. At least 4,096 held, and fewer than a quarter of
    /// `factsMergeInterval` stored before them. (10^5 events: the merge at the end took 0.1 s of 0.6.)
    public var mergingHeldFactsIsCheap: Bool {
        guard let tailStart, newKeys.count >= 4096 else { return false }
        return tailStart - 1 < Int64(factsMergeInterval / 4)
    }

    /// Stream heads kept in memory (about 100 bytes each) before the cache starts over.
    public var maxCachedStreams = 250_000

    struct StreamHead {
        /// nil until the customer's first event is appended.
        var stream: Int64?
        var version: Int64
    }

    /// 1: events with a (customer, version) index. 2: streams and stream_facts, a bulk load's facts
    /// pending in a table. 3: a bulk load's facts held in memory, `facts_from` marking them.
    /// An earlier build must not write a later schema: it would read versions from `stream_facts`
    /// while facts are held, so it refuses the file (`stored > schemaVersion`).
    public static let schemaVersion = 3

    public convenience init(path: String) throws {
        try self.init(database: Database(path: path))
    }

    public init(database: Database) throws {
        self.database = database
        try migrate()
    }

    func migrate() throws {
        let stored = database.userVersion
        if stored == EventLog.schemaVersion, try storedFactsFormat() == EventFacts.formatVersion {
            // Facts a killed bulk load did not store are derived by the next writer.
            if !database.isReadOnly, try storedTailStart() != nil { try database.inTransaction { try mergePendingFacts() } }
            return
        }
        guard !database.isReadOnly else {
            throw SQLiteError(code: 1, message: "\(database.path) was written by an earlier version of aftersale and needs an upgrade: run `aftersale log` once with write access", sql: nil)
        }
        guard stored <= EventLog.schemaVersion else {
            throw SQLiteError(code: 1, message: "\(database.path) has log schema \(stored), newer than this build's \(EventLog.schemaVersion): upgrade aftersale", sql: nil)
        }
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
                CREATE TABLE IF NOT EXISTS streams (
                    stream   INTEGER PRIMARY KEY,
                    customer TEXT NOT NULL UNIQUE
                ) STRICT;
                CREATE TABLE IF NOT EXISTS stream_facts (
                    stream   INTEGER NOT NULL,
                    version  INTEGER NOT NULL,
                    position INTEGER NOT NULL,
                    facts    BLOB    NOT NULL,
                    PRIMARY KEY (stream, version)
                ) STRICT, WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS log_settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
                """)
            if stored == 1 {
                // Schema 1 kept no facts: number the streams in order of appearance, then derive the facts.
                try database.execute("""
                    INSERT INTO streams (customer) SELECT customer FROM events GROUP BY customer ORDER BY min(position);
                    DROP INDEX IF EXISTS events_stream;
                    """)
            }
            if stored == 2, try database.tableExists("pending_facts") {
                // Schema 2 kept a killed bulk load's facts in a table, for the next writer to merge.
                try database.execute("""
                    INSERT INTO stream_facts (stream, version, position, facts)
                    SELECT stream, version, position, facts FROM pending_facts ORDER BY stream, version;
                    DROP TABLE pending_facts;
                    """)
            }
            if stored >= 1, try storedFactsFormat() != EventFacts.formatVersion {
                try database.execute("DROP TABLE IF EXISTS pending_facts; DELETE FROM stream_facts; DELETE FROM log_settings WHERE name = 'facts_from'")
                try deriveFacts(from: 1)
            }
            try database.cached("INSERT INTO log_settings (name, value) VALUES ('facts_format', ?1) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
                .run([.int(Int64(EventFacts.formatVersion))])
            try database.setUserVersion(EventLog.schemaVersion)
        }
    }

    private func storedFactsFormat() throws -> Int? {
        guard try database.tableExists("log_settings") else { return nil }
        return try database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_format'").map(Int.init)
    }

    /// Where stored facts may end: events from this position on may have none (`facts_from`).
    private func storedTailStart() throws -> Int64? {
        try database.scalarInt("SELECT value FROM log_settings WHERE name = 'facts_from'")
    }

    /// Derives the facts of every event from `position` on from its JSON (the log's source of truth)
    /// and stores them: after a bulk load was killed or another connection wrote while one ran, after
    /// an upgrade from schema 1, or when `EventFacts.formatVersion` changed. The events must have no
    /// stored facts. Goes through the log in slices, so memory stays bounded however long it is.
    private func deriveFacts(from position: Int64) throws {
        let slice = 250_000
        var after = position - 1
        var keys: [MergeKey] = []
        var bytes: [UInt8] = []
        let stream = try database.prepare("SELECT stream FROM streams WHERE customer = ?1")
        var streams: [String: Int64] = [:]
        repeat {
            keys.removeAll(keepingCapacity: true)
            bytes.removeAll(keepingCapacity: true)
            if streams.count > maxCachedStreams { streams.removeAll(keepingCapacity: true) }
            try read(after: after, limit: slice, includeMeta: false) { recorded in
                let customer = recorded.event.customer
                let id: Int64
                if let known = streams[customer] {
                    id = known
                } else {
                    defer { stream.reset() }
                    stream.bind(customer, at: 1)
                    guard try stream.step() else {
                        throw SQLiteError(code: 1, message: "event at position \(recorded.position) has no stream", sql: nil)
                    }
                    id = stream.int64(0)
                    streams[customer] = id
                }
                let offset = bytes.count
                bytes.append(contentsOf: EventFacts.encode(recorded.event))
                keys.append(MergeKey(stream: id, version: recorded.version, position: recorded.position,
                                     offset: Int32(offset), count: Int32(bytes.count - offset)))
                after = recorded.position
            }
            EventLog.sortForInsert(&keys)
            try writeFacts(keys: keys, bytes: bytes)
        } while keys.count == slice
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
        if versions.count > maxCachedStreams {
            // Bounded memory over millions of customers: forget, after merging what is pending,
            // since versions are then read from `stream_facts`.
            try storePendingFacts(factsFrom: tailStart)
            versions.removeAll(keepingCapacity: true)
            versionsHoldEveryStream = false
        }
        if versions.isEmpty, !versionsHoldEveryStream {
            versionsHoldEveryStream = try database.scalarInt("SELECT EXISTS (SELECT 1 FROM streams)") == 0
        }
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
        let heldBefore = newKeys.count
        do {
            var next = events.startIndex
            // Groups to append one by one after a group that held an id the log has: a file sent
            // again holds nothing else (all duplicates: 4.7 s for 10^6 events one by one, 5.2 s
            // trying every group first). Doubles while groups keep failing, up to 64.
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
            if !defersFactsMerge || newKeys.count >= factsMergeInterval {
                // After the refresh above, the stored `facts_from` is this connection's, if any.
                try storePendingFacts(factsFrom: tailStart)
            } else if tailStart == nil, newKeys.count > heldBefore {
                // Committed with the events: their facts are not stored until the merge.
                let start = newKeys[heldBefore].position
                try database.cached("INSERT INTO log_settings (name, value) VALUES ('facts_from', ?1)").run([.int(start)])
                tailStart = start
            }
        } catch {
            // Stream ids and versions handed out inside a rolled-back transaction are not real, nor
            // are the facts of its events. The versions of the streams whose facts are held are not
            // in `stream_facts` either: forget everything; the next append derives what is missing.
            forgetCachedVersions()
            throw error
        }
        return outcomes
    }

    /// Forgets cached stream versions and the facts held in memory: the caller's transaction rolled
    /// back. Facts of events committed before are derived again from their JSON by the next append.
    public func forgetCachedVersions() {
        versions.removeAll()
        versionsHoldEveryStream = false
        tailStart = nil
        clearNewFacts()
        seenDataVersion = -1
    }

    /// Stores every event's facts that `stream_facts` lacks, in key order (call inside a write
    /// transaction): the facts this connection holds in memory, or, when another connection
    /// appended meanwhile or a bulk load was killed, facts derived again from the events' JSON.
    /// The primary key refuses a (stream, version) given twice: the merge fails rather than lose one.
    public func mergePendingFacts() throws {
        try storePendingFacts(factsFrom: try storedTailStart())
    }

    /// `mergePendingFacts`, given the stored `facts_from` (an append knows it is its own `tailStart`).
    private func storePendingFacts(factsFrom stored: Int64?) throws {
        if let stored, tailStart != stored {
            // Another connection's, or a killed one's: from the JSON.
            try deriveFacts(from: stored)
        } else if tailStart == stored {
            // This connection's own (held by a bulk load, or its append's), from memory. Otherwise
            // the marker is gone: another writer stored them.
            EventLog.sortForInsert(&newKeys)
            try writeFacts(keys: newKeys, bytes: newBytes)
        }
        if stored != nil { try database.execute("DELETE FROM log_settings WHERE name = 'facts_from'") }
        tailStart = nil
        clearNewFacts()
    }

    /// Inserts facts rows into `stream_facts`, in the order of `keys`.
    private func writeFacts(keys: [MergeKey], bytes: [UInt8]) throws {
        // `bytes` outlives the statements' steps: bound where it is, not copied.
        try bytes.withUnsafeBytes { bytes in
            try database.insertRows(into: "stream_facts", columns: ["stream", "version", "position", "facts"], count: keys.count) { statement, row, first in
                let key = keys[row]
                statement.bind(key.stream, at: first + 1)
                statement.bind(key.version, at: first + 2)
                statement.bind(key.position, at: first + 3)
                statement.bind(borrowedBytes: UnsafeRawBufferPointer(rebasing: bytes[Int(key.offset)..<Int(key.offset + key.count)]),
                               at: first + 4)
            }
        }
    }

    private func clearNewFacts() {
        newKeys.removeAll(keepingCapacity: true)
        newBytes.removeAll(keepingCapacity: true)
    }

    /// Puts facts keys in `stream_facts` order, (stream, version), for an insert in key order.
    ///
    /// Keys come in position order, in which each stream's versions rise, and stream ids are dense:
    /// a stable counting sort by stream is then enough, in linear time (the comparison sort it
    /// replaces was 3% of a bulk load's writer). Anything else is sorted by comparison.
    static func sortForInsert(_ keys: inout [MergeKey]) {
        func compareSort() { keys.sort { ($0.stream, $0.version) < ($1.stream, $1.version) } }
        guard let first = keys.first else { return }
        var (low, high) = (first.stream, first.stream)
        for key in keys {
            low = min(low, key.stream)
            high = max(high, key.stream)
        }
        guard high - low < Int64(keys.count) * 4 + 1024 else { return compareSort() }
        // starts[s] is where stream low + s begins in the sorted keys.
        var starts = [Int](repeating: 0, count: Int(high - low) + 2)
        for key in keys { starts[Int(key.stream - low) + 1] += 1 }
        for s in 1..<starts.count { starts[s] += starts[s - 1] }
        let sorted = [MergeKey](unsafeUninitializedCapacity: keys.count) { buffer, count in
            for key in keys {
                let s = Int(key.stream - low)
                buffer.initializeElement(at: starts[s], to: key)
                starts[s] += 1
            }
            count = keys.count
        }
        for i in sorted.indices.dropFirst() where sorted[i].stream == sorted[i - 1].stream && sorted[i].version <= sorted[i - 1].version {
            return compareSort()
        }
        keys = sorted
    }

    struct MergeKey {
        var stream: Int64
        var version: Int64
        var position: Int64
        var offset: Int32
        var count: Int32
    }

    /// The facts of the events this connection appended and has not stored yet, in position order.
    private var newKeys: [MergeKey] = []
    private var newBytes: [UInt8] = []

    /// Events per many-row INSERT. Each statement execution has a cost of its own (opening and
    /// closing cursors, halting: about 4,000 instructions); one for 32 rows pays it once.
    static let rowsPerInsert = 32

    private lazy var insertGroupStatement: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
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

    /// What one group of rows needs, kept from group to group (their capacity is reused).
    private struct GroupBuffers {
        /// The text of a group's rows, copied together so that the statement can borrow it.
        var text: [UInt8] = []
        var versions: [Int64] = []
        /// Each event's stream head before it, to take the group back.
        var undo: [(customer: String, head: StreamHead)] = []
    }

    private var group = GroupBuffers()

    /// Appends `rowsPerInsert` events with one statement, when none of them is in the log already.
    /// Otherwise appends nothing and returns false: the caller appends them one by one, which tells
    /// duplicates from conflicts.
    private func insertGroup(_ events: ArraySlice<EncodedEvent>, recorded: Timestamp,
                             into outcomes: inout [AppendOutcome]) throws -> Bool {
        let last = try head()
        // The buffers, the heads and the held facts are locals while the group is built: a class's
        // property is checked for exclusive access at each use (6% of the writer, per event).
        var group = GroupBuffers()
        var heads: [String: StreamHead] = [:]
        var keys: [MergeKey] = []
        var factBytes: [UInt8] = []
        swap(&group, &self.group)
        swap(&heads, &versions)
        swap(&keys, &newKeys)
        swap(&factBytes, &newBytes)
        defer {
            swap(&group, &self.group)
            swap(&heads, &versions)
            swap(&keys, &newKeys)
            swap(&factBytes, &newBytes)
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
                let index = try streamHeadIndex(of: events[i].customer, in: &heads)
                let head = heads.values[index]
                group.undo.append((events[i].customer, head))
                heads.values[index].version += 1
                group.versions.append(head.version + 1)
                appendText(events[i].id, to: &group.text)
                appendText(events[i].type.rawValue, to: &group.text)
                appendText(events[i].customer, to: &group.text)
                group.text.append(contentsOf: events[i].dataAndMetaUTF8)
            }
            let statement = try insertGroupStatement.get()
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
            for (customer, head) in group.undo.reversed() { heads[customer] = head }
            return false
        }
        try events.withUnsafeBufferPointer { events in
            for row in events.indices {
                let position = last + 1 + Int64(row)
                // A new customer's stream may have been made for an earlier event of this group.
                var stream = group.undo[row].head.stream ?? heads[events[row].customer]?.stream
                if stream == nil {
                    let create = try insertStream.get()
                    defer { create.reset() }
                    create.bind(events[row].customer, at: 1)
                    try create.step()
                    stream = database.lastInsertRowID
                    heads[events[row].customer]?.stream = stream
                }
                let offset = factBytes.count
                factBytes.append(contentsOf: events[row].factsBytes)
                keys.append(MergeKey(stream: stream!, version: group.versions[row], position: position,
                                     offset: Int32(offset), count: Int32(factBytes.count - offset)))
                outcomes.append(.appended(position: position, version: group.versions[row]))
            }
        }
        return true
    }

    /// Prepared once: a many-row append asks for the head before each group.
    private lazy var headStatement: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
        try database.prepare("SELECT max(position) FROM events")
    }

    /// The append statement, prepared once: looking it up by its SQL text for every event costs a hash of the text.
    private lazy var insertStatement: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
        try database.prepare("""
            INSERT INTO events (id, type, customer, version, at, at_offset, schema, data, meta, recorded)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id) DO NOTHING
            """)
    }

    private lazy var insertStream: Result<Statement, SQLiteError> = Result { () throws(SQLiteError) in
        try database.prepare("INSERT INTO streams (customer) VALUES (?1)")
    }

    private func insert(_ event: EncodedEvent, recorded: Timestamp) throws -> AppendOutcome {
        var head = try streamHead(of: event.customer)
        let version = head.version + 1
        let statement = try insertStatement.get()
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
            let create = try insertStream.get()
            defer { create.reset() }
            create.bind(event.customer, at: 1)
            try create.step()
            stream = database.lastInsertRowID
        }
        // Written with the batch's others at the end of the append, or at a bulk load's merge.
        let offset = newBytes.count
        newBytes.append(contentsOf: event.factsBytes)
        newKeys.append(MergeKey(stream: stream, version: version, position: position,
                                offset: Int32(offset), count: Int32(newBytes.count - offset)))
        head = StreamHead(stream: stream, version: version)
        versions[event.customer] = head
        return .appended(position: position, version: version)
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
        try streamHead(of: stream).version
    }

    private func streamHead(of customer: String) throws -> StreamHead {
        let index = try streamHeadIndex(of: customer, in: &versions)
        return versions.values[index]
    }

    /// Where the customer's head is in `heads` (the version cache), read from the log when it is not there yet.
    private func streamHeadIndex(of customer: String, in heads: inout [String: StreamHead]) throws -> [String: StreamHead].Index {
        if let index = heads.index(forKey: customer) { return index }
        var head = StreamHead(stream: versionsHoldEveryStream ? nil : try streamID(of: customer), version: 0)
        if let stream = head.stream {
            let statement = try database.cached("SELECT max(version) FROM stream_facts WHERE stream = ?1")
            defer { statement.reset() }
            statement.bind(stream, at: 1)
            head.version = try statement.step() && !statement.isNull(0) ? statement.int64(0) : 0
        }
        heads[customer] = head
        return heads.index(forKey: customer)!
    }

    /// The customer's stream id, nil when the log has no events of theirs.
    public func streamID(of customer: String) throws -> Int64? {
        let statement = try database.cached("SELECT stream FROM streams WHERE customer = ?1")
        defer { statement.reset() }
        statement.bind(customer, at: 1)
        return try statement.step() ? statement.int64(0) : nil
    }

    private func refreshVersionCacheIfOthersWrote() throws {
        let dataVersion = try database.dataVersion()
        guard dataVersion != seenDataVersion else { return }
        seenDataVersion = dataVersion
        // Another connection committed. While `facts_from` is still ours, it appended nothing (an
        // appender stores what is pending first): the cache and the facts held stay good.
        if let tailStart, try storedTailStart() == tailStart { return }
        // Versions are read again from `stream_facts`, so every fact must be there (this runs
        // inside the append's write transaction). Facts held here were stored by the other.
        tailStart = nil
        clearNewFacts()
        try mergePendingFacts()
        versions.removeAll(keepingCapacity: true)
        versionsHoldEveryStream = false
    }

    // MARK: - Reading

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

    /// Calls `body` with each event's position, stream id, customer and facts after `position`, in
    /// log order. Facts not stored yet (a bulk load holds them) are derived from the event's JSON.
    public func readFacts(after position: Int64, limit: Int = .max,
                          _ body: (_ position: Int64, _ stream: Int64, _ customer: String, _ facts: UnsafeRawBufferPointer) throws -> Void) throws {
        let statement = try database.prepare("""
            SELECT e.position, e.customer, f.facts, s.stream FROM events e
            JOIN streams s ON s.customer = e.customer
            LEFT JOIN stream_facts f ON f.stream = s.stream AND f.version = e.version
            WHERE e.position > ?1 ORDER BY e.position LIMIT ?2
            """)
        statement.bind(position, at: 1)
        statement.bind(Int64(limit), at: 2)
        while try statement.step() {
            let customer = statement.text(1) ?? ""
            if statement.isNull(2) {
                // Rare (a bulk load holds it): the event is read again, whole, only then.
                let row = try database.cached("SELECT \(EventLog.columns) FROM events WHERE position = ?1")
                defer { row.reset() }
                row.bind(statement.int64(0), at: 1)
                guard try row.step() else { continue }
                let facts = EventFacts.encode(try EventLog.decodeRow(row, includeMeta: false).event)
                try facts.withUnsafeBytes { try body(statement.int64(0), statement.int64(3), customer, $0) }
            } else {
                try statement.withBytes(2) { try body(statement.int64(0), statement.int64(3), customer, UnsafeRawBufferPointer($0)) }
            }
        }
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
            // first row past the last stream. A step took 1,040 instructions with both, 920 without
            // the position and 720 without either (callgrind, a rebuild's workers).
            let after = try head() > position
            let facts = try database.prepare("""
                SELECT stream, facts FROM stream_facts WHERE stream >= ?1\(after ? " AND position <= ?2" : "") ORDER BY stream, version
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
        try database.scalarInt("SELECT max(at) FROM events WHERE customer != ?1", [.text(EventType.systemCustomer)])
            .map { Timestamp(millis: $0) }
    }

    /// The position of the last event, 0 for an empty log.
    public func head() throws -> Int64 {
        let statement = try headStatement.get()
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

@available(*, unavailable)
extension EventLog: Sendable {}

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
}
