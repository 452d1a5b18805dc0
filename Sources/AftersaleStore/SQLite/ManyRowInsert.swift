extension Database {
    /// Inserts `count` rows into `columns` of `table`, `rowsPerStatement` rows to an INSERT (the rest
    /// one by one): a statement's own cost (bind, step, halt, reset: a few thousand instructions)
    /// is paid once for many rows. Measured here on 32-row statements: a rebuild's rows, and the
    /// log's facts. `bind` binds row `row`'s values from parameter `first` on (`first + 1` is its
    /// first column); borrowed bytes it binds must stay put until this returns, which lets go of them.
    func insertRows(into table: String, columns: [String], count: Int, rowsPerStatement: Int = 32,
                    bind: (_ statement: Statement, _ row: Int, _ first: Int32) -> Void) throws {
        guard count > 0 else { return }
        func values(_ row: Int) -> String {
            "(" + columns.indices.map { "?\(row * columns.count + $0 + 1)" }.joined(separator: ", ") + ")"
        }
        let insert = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
        let many = try cached(insert + (0..<rowsPerStatement).map(values).joined(separator: ", "))
        let one = try cached(insert + values(0))
        defer {
            many.clearBindings()
            one.clearBindings()
        }
        var row = 0
        while count - row >= rowsPerStatement {
            for i in 0..<rowsPerStatement { bind(many, row + i, Int32(i * columns.count)) }
            defer { many.rewind() }
            try many.step()
            row += rowsPerStatement
        }
        while row < count {
            bind(one, row, 0)
            defer { one.rewind() }
            try one.step()
            row += 1
        }
    }
}
