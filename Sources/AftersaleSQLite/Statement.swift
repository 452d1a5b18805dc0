internal import CSQLite

/// A prepared statement, finalized when released.
public final class Statement {
    let handle: OpaquePointer
    unowned let database: Database
    public let sql: String

    init(database: Database, sql: String) throws(SQLiteError) {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(database.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw database.error(rc, sql: sql) }
        self.handle = stmt
        self.database = database
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
        for case let buffer? in textSlots { buffer.deallocate() }
    }

    public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Ready to step again, keeping the bindings (for a statement whose every parameter is bound
    /// again before the next step).
    public func rewind() {
        sqlite3_reset(handle)
    }

    /// Steps once: true when a row is ready, false when done.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(rc, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Runs to completion, ignoring rows.
    public func run(_ values: [SQLValue] = []) throws(SQLiteError) {
        reset()
        try bind(values)
        while try step() {}
        sqlite3_reset(handle)
    }

    public func bind(_ values: [SQLValue]) throws(SQLiteError) {
        for (i, value) in values.enumerated() { try bind(value, at: Int32(i + 1)) }
    }

    public func bind(_ value: SQLValue, at index: Int32) throws(SQLiteError) {
        let rc: Int32
        switch value {
        case .null: rc = sqlite3_bind_null(handle, index)
        case .int(let v): rc = sqlite3_bind_int64(handle, index, v)
        case .double(let v): rc = sqlite3_bind_double(handle, index, v)
        case .text(let v): rc = bindText(v, at: index)
        }
        guard rc == SQLITE_OK else { throw database.error(rc, sql: sql) }
    }

    public func bind(_ value: Int64, at index: Int32) { sqlite3_bind_int64(handle, index, value) }

    public func bind(_ value: String, at index: Int32) { _ = bindText(value, at: index) }

    public func bind(optional value: String?, at index: Int32) {
        if let value { _ = bindText(value, at: index) } else { sqlite3_bind_null(handle, index) }
    }

    public func bindNull(at index: Int32) { sqlite3_bind_null(handle, index) }

    /// Binds a BLOB (SQLite copies the bytes).
    public func bind(bytes: [UInt8], at index: Int32) {
        bytes.withUnsafeBytes { bind(bytes: $0, at: index) }
    }

    /// Binds a BLOB (SQLite copies the bytes).
    public func bind(bytes raw: UnsafeRawBufferPointer, at index: Int32) {
        // A zero-length BLOB still needs a non-null pointer, or SQLite binds NULL.
        _ = sqlite3_bind_blob(handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), aftersale_sqlite_transient())
    }

    /// Binds a BLOB without copying it: the bytes must stay where they are until the statement has
    /// been stepped and its bindings replaced or cleared (`clearBindings`).
    public func bind(borrowedBytes raw: UnsafeRawBufferPointer, at index: Int32) {
        _ = sqlite3_bind_blob(handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), nil)
    }

    /// Binds UTF-8 text without copying it, on the terms of `bind(borrowedBytes:at:)`.
    public func bind(borrowedUTF8 raw: UnsafeRawBufferPointer, at index: Int32) {
        let text = (raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self)
        _ = sqlite3_bind_text(handle, index, text, Int32(raw.count), nil)
    }

    /// Sets every parameter to NULL (and lets go of borrowed bytes).
    public func clearBindings() { sqlite3_clear_bindings(handle) }

    /// Texts up to this many bytes are copied into the statement's own buffer for their parameter
    /// (`textSlots`) and bound from there; longer ones SQLite copies itself.
    static let ownedTextLimit = 1_024

    /// One buffer per parameter for the texts bound to it, kept until the next text or the end of
    /// the statement. SQLite's own copy of a bound text is a `malloc` and a `free` per text per
    /// row, which a command or event row pays about ten times: binding from a buffer the
    /// statement keeps costs a copy into memory already there.
    private var textSlots: [UnsafeMutableRawBufferPointer?] = []

    private func bindText(_ value: String, at index: Int32) -> Int32 {
        var value = value
        return value.withUTF8 { utf8 in
            let slot = Int(index) - 1
            // A statement part-way through its rows may still be reading the bytes bound before:
            // then (an error the bind reports) they stay as they are.
            guard utf8.count <= Statement.ownedTextLimit, slot >= 0, sqlite3_stmt_busy(handle) == 0 else {
                return sqlite3_bind_text(handle, index, UnsafeRawPointer(utf8.baseAddress ?? UnsafePointer(bitPattern: 1)!)
                    .assumingMemoryBound(to: CChar.self), Int32(utf8.count), aftersale_sqlite_transient())
            }
            if slot >= textSlots.count { textSlots.append(contentsOf: repeatElement(nil, count: slot + 1 - textSlots.count)) }
            let buffer: UnsafeMutableRawBufferPointer
            if let held = textSlots[slot], held.count >= utf8.count {
                buffer = held
            } else {
                // SQLite may point at the old buffer until the parameter is bound again.
                sqlite3_bind_null(handle, index)
                let size = max(64, (textSlots[slot]?.count ?? 0) * 2, (utf8.count + 63) & ~63)
                textSlots[slot]?.deallocate()
                buffer = .allocate(byteCount: size, alignment: 1)
                textSlots[slot] = buffer
            }
            if let base = utf8.baseAddress { buffer.baseAddress!.copyMemory(from: base, byteCount: utf8.count) }
            // Bound as static: the bytes stay put until this parameter is bound again, or the
            // statement is finalized (`deinit`), which is all SQLite asks of them.
            return sqlite3_bind_text(handle, index, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(utf8.count), nil)
        }
    }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }
    public func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }
    public func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }

    public func text(_ column: Int32) -> String? {
        guard let p = sqlite3_column_text(handle, column) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    }

    /// Which of `names` the column's text is (its index), nil when none: a stored name told without
    /// making a String of it.
    public func index(_ column: Int32, among names: [[UInt8]]) -> Int? {
        let p = sqlite3_column_text(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let p else { return nil }
        let bytes = UnsafeBufferPointer(start: p, count: count)
        for (i, name) in names.enumerated() where name.count == count && name.withUnsafeBufferPointer({ $0.elementsEqual(bytes) }) {
            return i
        }
        return nil
    }

    /// The column's bytes, valid until the next step or reset.
    public func withBytes<T>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        // The pointer first, then its size: the order SQLite documents.
        guard let p = sqlite3_column_blob(handle, column) else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        let count = Int(sqlite3_column_bytes(handle, column))
        return try body(UnsafeBufferPointer(start: p.assumingMemoryBound(to: UInt8.self), count: count))
    }
}

@available(*, unavailable)
extension Statement: Sendable {}
