internal import CSQLite

extension Database {
    /// Inserts `count` rows into `columns` of `table`, `rowsPerStatement` rows to an INSERT (the rest
    /// one by one): a statement's own cost (bind, step, halt, reset) is paid once for many rows. A
    /// rebuild's rows and the log's facts go 32 to a statement. `bind` binds row `row`'s values from
    /// parameter `first` on (`first + 1` is its first column); borrowed bytes it binds must stay put
    /// until this returns, which lets go of them.
    ///
    /// A row the table refuses (a key it holds already, a NULL where none may be) is an error, as
    /// with a plain INSERT: the statements say `OR IGNORE` and each checks it wrote all its rows.
    /// A plain INSERT of many rows that might stop half-way makes SQLite copy every page it
    /// changes into a statement journal first, to undo its first rows; `OR IGNORE` never stops
    /// half-way, and the caller's transaction undoes everything on the error. That copy was a
    /// large part of the cost of writing facts.
    ///
    /// With `keepingExisting`, a row whose key the table holds already is passed over instead (what
    /// `INSERT OR IGNORE` means to its callers).
    public func insertRows(into table: String, columns: [String], count: Int, rowsPerStatement: Int = 32,
                           keepingExisting: Bool = false,
                           bind: (_ statement: Statement, _ row: Int, _ first: Int32) -> Void) throws {
        guard count > 0 else { return }
        func values(_ row: Int) -> String {
            "(" + columns.indices.map { "?\(row * columns.count + $0 + 1)" }.joined(separator: ", ") + ")"
        }
        let insert = "INSERT OR IGNORE INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
        // A few rows (an append of a handful of events) need no many-row statement, nor its text.
        let many = count >= rowsPerStatement ? try cached(insert + (0..<rowsPerStatement).map(values).joined(separator: ", ")) : nil
        let one = try cached(insert + values(0))
        defer {
            many?.clearBindings()
            one.clearBindings()
        }
        func step(_ statement: Statement, rows: Int) throws {
            defer { statement.rewind() }
            try statement.step()
            guard keepingExisting || changes == rows else {
                throw SQLiteError(code: SQLITE_CONSTRAINT, message: "\(table) refused \(rows - changes) of \(rows) rows (a key it holds already, or a value it does not take)",
                                  sql: statement.sql)
            }
        }
        var row = 0
        while let many, count - row >= rowsPerStatement {
            for i in 0..<rowsPerStatement { bind(many, row + i, Int32(i * columns.count)) }
            try step(many, rows: rowsPerStatement)
            row += rowsPerStatement
        }
        while row < count {
            bind(one, row, 0)
            try step(one, rows: 1)
            row += 1
        }
    }
}
