import AftersaleCore
import Testing

@Suite("JSON")
struct JSONTests {
    @Test("numbers keep the text they were written with")
    func numbersAreLiteral() throws {
        let value = try JSONParser.parse(#"{"total": 59.80, "big": 12345678901234567890.10, "e": -1.5e-3}"#)
        #expect(value["total"] == .number("59.80"))
        #expect(value["big"] == .number("12345678901234567890.10"))
        #expect(value["e"] == .number("-1.5e-3"))
    }

    @Test("escapes and surrogate pairs decode; output escapes what it must")
    func strings() throws {
        let value = try JSONParser.parse(#"["a\"b\\c\nd\u00e9\ud83d\ude00/"]"#)
        #expect(value == .array([.string("a\"b\\c\nd\u{e9}\u{1F600}/")]))
        #expect(value.compactText == #"["a\"b\\c\nd\#u{e9}\#u{1F600}/"]"#)
    }

    @Test("canonical text sorts keys and drops white space")
    func canonical() throws {
        let a = try JSONParser.parse(#"{ "b": 1, "a": {"z": [1, 2], "y": null} }"#)
        let b = try JSONParser.parse(#"{"a":{"y":null,"z":[1,2]},"b":1}"#)
        #expect(a.canonicalText == #"{"a":{"y":null,"z":[1,2]},"b":1}"#)
        #expect(a.canonicalText == b.canonicalText)
    }

    @Test("syntax errors say where", arguments: [
        (#"{"a": 1,}"#, 9), (#"{"a" 1}"#, 6), (#"[01]"#, 3), ("{\"a\": \"x\ny\"}", 9), (#"{"a": tru}"#, 10), (#"{} x"#, 4),
    ])
    func syntaxErrors(text: String, column: Int) {
        let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
        #expect(error?.column == column, "\(text): \(error?.description ?? "parsed")")
    }

    @Test("member names come out as written, whether or not they are among the catalogue's names")
    func memberNames() throws {
        let names = ["id", "type", "customer", "data", "estimated_delivery", "correlation_id", "source",
                     // the same length, first and last bytes as a catalogue name, or one byte off it
                     "ie", "iD", "i", "idd", "tyqe", "types", "customers", "estimated_deliverx", "estimated_delivery_at",
                     "", "a", "x-very-long-member-name-of-a-sender", "tÿpe", "日本"]
        for name in names {
            let text = "{" + JSONValue.quoted(name) + ": 1, \"z\": 2}"
            let object = try #require(try JSONParser.parse(text).objectValue, "\(text)")
            #expect(object.keys == [name, "z"], "\(text)")
        }
        // A catalogue name written with an escape is the same name.
        #expect(try JSONParser.parse(#"{"\u0069d": 1}"#).objectValue?.keys == ["id"])
        #expect(try JSONParser.parse(#"{"ty\"pe": 1}"#).objectValue?.keys == ["ty\"pe"])
        // Unterminated names are still errors, at the same column.
        for text in [#"{"id"#, #"{"id: 1}"#, #"{"customer"#] {
            let error = #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
            #expect(error?.message == "unterminated string", "\(text)")
        }
    }

    @Test("deep nesting is refused, not a stack overflow")
    func deepNesting() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(text) }
    }
}

@Suite("Money is exact")
struct MoneyTests {
    @Test("decimals become minor units", arguments: [
        ("59.80", 2, Int64(5980)), ("59.8", 2, 5980), ("59", 2, 5900), ("0.01", 2, 1), ("1200", 0, 1200),
        ("1.250", 3, 1250), ("59.800", 2, 5980), ("-0.00", 2, 0),
    ])
    func parses(text: String, digits: Int, minor: Int64) throws {
        #expect(try Money.parseMinorUnits(text, digits: digits) == minor)
    }

    @Test("bad amounts are refused with the reason")
    func refuses() {
        #expect(throws: AmountError.negative) { try Money.parseMinorUnits("-5.00", digits: 2) }
        #expect(throws: AmountError.tooManyDecimalPlaces(allowed: 2)) { try Money.parseMinorUnits("59.805", digits: 2) }
        #expect(throws: AmountError.tooManyDecimalPlaces(allowed: 0)) { try Money.parseMinorUnits("1200.5", digits: 0) }
        for text in ["59,80", "1e3", ".5", "5.", "", "abc", "5.5.5", "+5"] {
            #expect(throws: AmountError.notDecimal, "\(text)") { try Money.parseMinorUnits(text, digits: 2) }
        }
        #expect(throws: AmountError.tooLarge) { try Money.parseMinorUnits("99999999999999999999", digits: 2) }
    }

    @Test("money read from JSON: a number or a decimal string and a currency code, on the tree and on the tape", arguments: [
        (#"{"amount": "30.00", "currency": "EUR"}"#, "30.00 EUR"), (#"{"amount": 30, "currency": "EUR"}"#, "30.00 EUR"),
        (#"{"amount": 59.8, "currency": "EUR"}"#, "59.80 EUR"), (#"{"amount": "1200", "currency": "JPY"}"#, "1200 JPY"),
        (#"{"amount": "1.25", "currency": "KWD"}"#, "1.250 KWD"), (#"{"amount": "\u0035.00", "currency": "EUR"}"#, "5.00 EUR"),
        (#"{"amount": "-0.00", "currency": "EUR"}"#, "0.00 EUR"), (#"{"amount": 59.800, "currency": "EUR"}"#, "59.80 EUR"),
    ])
    func moneyFromJSON(text: String, money: String) throws {
        let tree = try JSONParser.parse(text)
        #expect(Money(amount: tree["amount"], currency: tree["currency"])?.description == money)
        var tape = JSONTape()
        let fromTape = try Array(text.utf8).withUnsafeBufferPointer { bytes in
            try tape.parse(bytes) { value in Money(amount: value[member: "amount"], currency: value[member: "currency"]) }
        }
        #expect(fromTape?.description == money)
    }

    @Test("money JSON that is not exact, not positive or not in a currency reads as none", arguments: [
        #"{"amount": "-5.00", "currency": "EUR"}"#, #"{"amount": -5, "currency": "EUR"}"#, #"{"amount": "59.805", "currency": "EUR"}"#,
        #"{"amount": "12.5", "currency": "JPY"}"#, #"{"amount": 1e3, "currency": "EUR"}"#, #"{"amount": "5,00", "currency": "EUR"}"#,
        #"{"amount": true, "currency": "EUR"}"#, #"{"amount": null, "currency": "EUR"}"#, #"{"currency": "EUR"}"#,
        #"{"amount": "5.00", "currency": "eur"}"#, #"{"amount": "5.00", "currency": "EURO"}"#, #"{"amount": "5.00", "currency": 978}"#,
        #"{"amount": "5.00"}"#, #"{"amount": "99999999999999999999", "currency": "EUR"}"#,
    ])
    func moneyFromJSONRefused(text: String) throws {
        let tree = try JSONParser.parse(text)
        #expect(Money(amount: tree["amount"], currency: tree["currency"]) == nil)
        var tape = JSONTape()
        let fromTape = try Array(text.utf8).withUnsafeBufferPointer { bytes in
            try tape.parse(bytes) { value in Money(amount: value[member: "amount"], currency: value[member: "currency"]) }
        }
        #expect(fromTape == nil)
    }

    @Test("sums per currency read as money: zero where nothing was counted, ordered by code, less another currency by currency")
    func sumsPerCurrency() throws {
        let eur = try #require(Currency(code: "EUR")), jpy = try #require(Currency(code: "JPY")), usd = try #require(Currency(code: "USD"))
        let placed = MoneyByCurrency(minorUnits: ["USD": 500, "EUR": 7980, "JPY": 1200, "XXX": 7])
        let cancelled = MoneyByCurrency(minorUnits: ["EUR": 2000, "USD": 500, "GBP": 100])
        #expect(placed[eur] == Money(minorUnits: 7980, currency: eur))
        #expect(cancelled[jpy] == Money(minorUnits: 0, currency: jpy))
        #expect(placed.amounts.map(\.description) == ["79.80 EUR", "1200 JPY", "5.00 USD"], "XXX is no currency")
        let net = placed - cancelled
        #expect(net.amounts.map(\.description) == ["59.80 EUR", "-1.00 GBP", "1200 JPY", "0.00 USD"])
        #expect(net[usd].minorUnits == 0 && !net.isEmpty && MoneyByCurrency().isEmpty && MoneyByCurrency().amounts.isEmpty)
    }

    @Test("formatting uses the currency's minor unit")
    func formats() throws {
        let eur = try #require(Currency(code: "EUR")), jpy = try #require(Currency(code: "JPY")), kwd = try #require(Currency(code: "KWD"))
        #expect(Money(minorUnits: 5980, currency: eur).description == "59.80 EUR")
        #expect(Money(minorUnits: -5, currency: eur).decimalString == "-0.05")
        #expect(Money(minorUnits: 1200, currency: jpy).decimalString == "1200")
        #expect(Money(minorUnits: 1250, currency: kwd).decimalString == "1.250")
        #expect(Currency(code: "EUX") == nil)
        #expect(Currency(code: "eur") == nil)
    }
}

@Suite("Time")
struct TimeTests {
    @Test("RFC 3339 with offsets names one instant")
    func offsets() throws {
        let z = try Timestamp.parse("2025-03-01T10:15:00Z")
        let plus = try Timestamp.parse("2025-03-01T12:15:00+02:00")
        let minus = try Timestamp.parse("2025-03-01T05:15:00.000-05:00")
        #expect(z == plus && plus == minus)
        #expect(z.millis == 1_740_824_100_000)
        #expect(plus.rfc3339WithOffset == "2025-03-01T12:15:00+02:00")
        #expect(plus.description == "2025-03-01T10:15:00Z")
        #expect(try Timestamp.parse("2025-03-01T10:15:00.25Z").description == "2025-03-01T10:15:00.250Z")
    }

    @Test("times and dates are written as RFC 3339: padded fields, milliseconds only when there are some, Z or the offset")
    func writing() throws {
        /// The fields of a written time, each read back on its own.
        func expected(_ millis: Int64, _ offset: Int) -> String {
            let local = millis + Int64(offset) * 60_000
            let day = Timestamp.floorDiv(local, Timestamp.millisPerDay)
            let date = CivilDate(daysSinceEpoch: day)
            let ms = local - day * Timestamp.millisPerDay
            func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
            var text = String(repeating: "0", count: 4 - String(date.year).count) + "\(date.year)-\(two(Int64(date.month)))-\(two(Int64(date.day)))"
            text += "T\(two(ms / 3_600_000)):\(two(ms / 60_000 % 60)):\(two(ms / 1000 % 60))"
            if ms % 1000 != 0 { text += "." + String(String(ms % 1000 + 1000).dropFirst()) }
            if offset == 0 { return text + "Z" }
            return text + (offset < 0 ? "-" : "+") + two(Int64(abs(offset) / 60)) + ":" + two(Int64(abs(offset) % 60))
        }
        var checked = 0
        // From year 1 to 9999, a prime step apart, with and without milliseconds, in offsets from -12:00 to +14:00.
        for millis in stride(from: Int64(-62_135_596_800_000), to: 253_402_214_400_000, by: 7_919_999_999_983) {
            for offset in [0, -720, -570, -1, 1, 330, 345, 840] {
                for t in [millis, millis - millis % 1000] {
                    let time = Timestamp(millis: t, offsetMinutes: offset)
                    #expect(time.rfc3339WithOffset == expected(t, offset))
                    #expect(try Timestamp.parse(time.rfc3339WithOffset) == time)
                    checked += 1
                }
            }
        }
        #expect(checked > 500)
        #expect(Timestamp(millis: 0).description == "1970-01-01T00:00:00Z")
        #expect(Timestamp(millis: 5, offsetMinutes: -61).rfc3339WithOffset == "1969-12-31T22:59:00.005-01:01")
        #expect(CivilDate(year: 7, month: 3, day: 9).description == "0007-03-09")
        #expect(CivilDate(year: 12345, month: 12, day: 31).description == "12345-12-31")
    }

    @Test("impossible dates and times are refused", arguments: [
        "2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T00:00:60Z",
        "2025-01-01 00:00:00", "2025-01-01", "20250101T000000Z", "2025-01-01T00:00:00+2:00", "2025-01-01T00:00:00Zjunk",
    ])
    func refused(text: String) {
        #expect(throws: TimestampSyntaxError.self) { try Timestamp.parse(text) }
    }

    @Test("a separator out of place is named with its position; 't' and a space stand for 'T'")
    func separators() throws {
        func message(_ text: String) -> String? {
            do { _ = try Timestamp.parse(text); return nil } catch { return error.message }
        }
        #expect(message("2025/03/01T10:00:00Z") == "expected '-' at position 5")
        #expect(message("2025-03-01x10:00:00Z") == "expected 'T' at position 11")
        #expect(message("2025-03-01T10-00:00Z") == "expected ':' at position 14")
        #expect(message("2025-03-01T10:00:00+02-00") == "expected ':' at position 23")
        #expect(message("2025-03-01T10:00:00Q") == "expected Z or +HH:MM at position 20")
        let instant = try Timestamp.parse("2025-03-01T10:00:00Z")
        #expect(try Timestamp.parse("2025-03-01t10:00:00z") == instant && Timestamp.parse("2025-03-01 10:00:00Z") == instant)
    }

    @Test("whole days are counted down before 1970: the millisecond before is day -1", arguments: [
        (7, 2, 3), (-7, 2, -4), (7, -2, -4), (-7, -2, 3), (-8, 2, -4), (0, 5, 0),
        (-1, Timestamp.millisPerDay, -1), (-Timestamp.millisPerDay, Timestamp.millisPerDay, -1),
    ] as [(Int64, Int64, Int64)])
    func floorDivision(a: Int64, b: Int64, quotient: Int64) {
        #expect(Timestamp.floorDiv(a, b) == quotient)
    }

    @Test("a local day before 1970 is the day before, not day 0")
    func daysBeforeTheEpoch() throws {
        let evening = try Timestamp.parse("1969-12-31T23:30:00-01:00")
        #expect(evening.utcDay == 0 && evening.localDay == -1)
        #expect(try Timestamp.parse("1969-12-31T23:59:59.999Z").description == "1969-12-31T23:59:59.999Z")
    }

    @Test("civil dates round-trip across eras and leap years")
    func civil() {
        for day in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            let date = CivilDate(daysSinceEpoch: day)
            #expect(date.daysSinceEpoch == day)
        }
        #expect(CivilDate(year: 2024, month: 2, day: 29).description == "2024-02-29")
        #expect(CivilDate.parse("19970101") == CivilDate(year: 1997, month: 1, day: 1))
        #expect(CivilDate.parse("1997-02-29") == nil)
    }

    @Test("birthdays take a full date or --MM-DD")
    func birthdays() {
        #expect(Birthday("1988-06-14")?.year == 1988)
        #expect(Birthday("--02-29")?.month == 2)
        #expect(Birthday("--13-01") == nil)
        #expect(Birthday("14.06.1988") == nil)
    }
}
