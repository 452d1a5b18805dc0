import AftersaleCore
import Testing

@Suite("Event facts: what the fold reads, stored beside each event")
struct EventFactsTests {
    /// Folds the stored form of each event, as a rebuild does.
    func foldFacts(_ events: [Event], customer: String = "c-1") throws -> CustomerState {
        var state = CustomerState(customer: customer)
        for event in events {
            let facts = EventFacts.encode(event)
            try facts.withUnsafeBytes { try state.apply(facts: $0) }
        }
        return state
    }

    @Test("money in facts is in minor units of each currency's own digits")
    func minorUnits() throws {
        let state = try foldFacts([
            placed("1", "o-1", "2025-01-10T10:00:00Z", total: "1200", currency: "JPY"),
            placed("2", "o-2", "2025-01-11T10:00:00Z", total: "12.345", currency: "KWD"),
            placed("3", "o-3", "2025-01-12T10:00:00Z", total: "0.10", currency: "EUR"),
        ])
        #expect(state.placedValue.minorUnits == ["JPY": 1200, "KWD": 12345, "EUR": 10])
        #expect(state.placedValue.amounts.map(\.description) == ["0.10 EUR", "1200 JPY", "12.345 KWD"])
        #expect(state.orders["o-2"]?.lines.first?.price == 12345)
    }

    @Test("a version-1 consent list is upcast before its facts are written")
    func upcastBeforeFacts() throws {
        let v1 = Event(id: "r", type: .customerRegistered, customer: "c-1", at: try Timestamp.parse("2025-01-01T00:00:00Z"), schema: 1,
                       data: JSONObject(["consent": .array(["email"]), "timezone": "Europe/Berlin", "birthday": "--04-12"]))
        let state = try foldFacts([v1])
        #expect(state.consent == ["email": true, "sms": false, "push": false])
        #expect(state.timeZone == "Europe/Berlin" && state.birthday == Birthday("--04-12") && state.registeredAt != nil)
        #expect(state.birthday?.year == nil)

        let dated = journeyEvent("u", .customerUpdated, "2025-02-01T00:00:00Z", ["birthday": "1990-02-28"])
        let later = try foldFacts([v1, dated])
        #expect(later.birthday == Birthday(year: 1990, month: 2, day: 28) && later.birthday?.description == "1990-02-28")
    }

    @Test("an event whose schema cannot be upcast is ignored by the fold, as before facts existed")
    func unupcastable() throws {
        let broken = Event(id: "u", type: .customerUpdated, customer: "c-1", at: try Timestamp.parse("2025-01-01T00:00:00Z"), schema: 1,
                           data: JSONObject(["consent": "email"]))
        #expect(EventFacts.encode(broken) == [0])
        #expect(try foldFacts([broken]).eventCount == 0)
    }

    @Test("the time and its offset survive; an unknown type code or cut bytes are errors, not silence")
    func timeAndCorruption() throws {
        let event = journeyEvent("d", .shipmentDelivered, "2025-06-01T18:30:00+02:00", ["order": "o-9"])
        let state = try foldFacts([event])
        #expect(state.orders["o-9"]?.deliveredAt == (try Timestamp.parse("2025-06-01T18:30:00+02:00")))
        #expect(state.orders["o-9"]?.deliveredAt?.offsetMinutes == 120)

        var facts = EventFacts.encode(event)
        var state2 = CustomerState(customer: "c-1")
        let cut = Array(facts.dropLast())
        #expect(throws: BinaryDecodingError.self) { try cut.withUnsafeBytes { try state2.apply(facts: $0) } }
        facts[0] = 200
        #expect(throws: BinaryDecodingError.self) { try facts.withUnsafeBytes { try state2.apply(facts: $0) } }
    }

    @Test("varints and strings round-trip at their edges")
    func byteCoding() throws {
        var w = ByteWriter()
        let numbers: [Int64] = [0, -1, 1, 63, -64, 64, Int64.max, Int64.min, 1_735_689_600_000]
        for n in numbers { w.signed(n) }
        w.optionalSigned(nil)
        w.optionalSigned(-5)
        w.optionalString(String?.none)
        w.optionalString("")
        w.string("Grüße, 東京 🎁")
        let bytes = w.bytes
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            var r = ByteReader(raw)
            for n in numbers { #expect(try r.signed() == n) }
            #expect(try r.optionalSigned() == nil)
            #expect(try r.optionalSigned() == -5)
            #expect(try r.optionalString() == nil)
            #expect(try r.optionalString() == "")
            #expect(try r.string() == "Grüße, 東京 🎁")
            #expect(r.isAtEnd)
            #expect(throws: BinaryDecodingError.self) { try r.byte() }
        }
    }

    @Test("strings read back are the strings the standard library makes of the same bytes, short ASCII ones included")
    func stringsFromBytes() throws {
        var samples: [[UInt8]] = (0...20).map { Array("abcdefghijklmnopqrstu".utf8.prefix($0)) }
        samples += ["é", "EUR-é", "東京", "sku-東京-9", "🎁", "Grüße, 東京 🎁!"].map { Array($0.utf8) }
        // Invalid UTF-8, short and long: repaired the same way (U+FFFD), never taken as it is.
        samples += [[0xFF], [0x61, 0xC3], [0x61, 0x80, 0x62], [0xED, 0xA0, 0x80], Array(repeating: 0xFE, count: 18)]
        var w = ByteWriter()
        for bytes in samples {
            w.unsigned(UInt64(bytes.count))
            bytes.withUnsafeBytes { w.append(raw: $0) }
        }
        try w.bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            var r = ByteReader(raw)
            for bytes in samples {
                let read = try r.string()
                let expected = String(decoding: bytes, as: UTF8.self)
                #expect(read == expected)
                #expect(Array(read.utf8) == Array(expected.utf8))
                #expect(read.utf8.count == expected.utf8.count && read.count == expected.count)
                #expect(Set([expected]).contains(read) && read.hashValue == expected.hashValue)
            }
            #expect(r.isAtEnd)
        }
    }

    @Test("a writer grows past its first capacity without losing a byte")
    func writerGrows() throws {
        var w = ByteWriter(capacity: 1)
        let words = (0..<500).map { "sku-\($0)-" + String(repeating: "x", count: $0 % 40) }
        for (i, word) in words.enumerated() {
            w.string(word)
            w.unsigned(UInt64(i) << 50)
            w.byte(UInt8(i % 256))
        }
        try w.bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            var r = ByteReader(raw)
            for (i, word) in words.enumerated() {
                #expect(try r.string() == word)
                #expect(try r.unsigned() == UInt64(i) << 50)
                #expect(try r.byte() == UInt8(i % 256))
            }
            #expect(r.isAtEnd)
        }
    }

    @Test("varints read back at every length boundary, one-byte ones included when the buffer is full")
    func varintBoundaries() throws {
        let values: [UInt64] = [0, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 1 << 41, UInt64(Int64.max), .max]
        let lengths = [1, 1, 1, 2, 2, 3, 6, 9, 10]
        var w = ByteWriter(capacity: 16)
        // Sixteen one-byte values fill the first buffer: the writer grows while writing the rest.
        for i in 0..<40 { w.unsigned(UInt64(i % 128)) }
        #expect(w.byteCount == 40)
        for (value, length) in zip(values, lengths) {
            let before = w.byteCount
            w.unsigned(value)
            #expect(w.byteCount - before == length, "\(value) takes \(length) bytes")
        }
        for value in [Int64.min, -1, 0, 63, -64, 64, Int64.max] { w.signed(value) }
        try w.bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            var r = ByteReader(raw)
            for i in 0..<40 { #expect(try r.unsigned() == UInt64(i % 128)) }
            for value in values { #expect(try r.unsigned() == value) }
            for value in [Int64.min, -1, 0, 63, -64, 64, Int64.max] { #expect(try r.signed() == value) }
            #expect(r.isAtEnd)
        }
        // A varint cut short is an error, not a value.
        try [UInt8]([0x80, 0x80]).withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            var r = ByteReader(raw)
            #expect(throws: BinaryDecodingError.self) { try r.unsigned() }
        }
    }

    @Test("an order's lines are kept as their facts bytes and read back as the lines that were placed")
    func orderLines() throws {
        let lines = [OrderLine(sku: "TEA-1", quantity: 2, price: 1250, category: "tea", name: "Sencha, 100 g"),
                     OrderLine(sku: "CUP-9", quantity: 1, price: 0, category: nil, name: "Becher für Tee ☕"),
                     OrderLine(sku: "GIFT", quantity: -1, price: -500)]
        var order = OrderState(id: "o-1")
        #expect(order.lines.isEmpty && order.encodedLines.isEmpty)
        order.lines = lines
        #expect(order.lines == lines)
        #expect(order.itemQuantity == 2)
        var items: [String] = []
        order.forEachItem { sku, quantity in items.append("\(sku)x\(quantity)") }
        #expect(items == ["TEA-1x2", "CUP-9x1", "GIFTx-1"])

        // What the fold keeps equals what setting the lines keeps: one canonical form.
        var w = ByteWriter()
        order.writeLines(&w)
        w.byte(42)
        let written = w.bytes
        var copy = OrderState(id: "o-1")
        try written.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
            var r = ByteReader(raw)
            try copy.readLines(&r)
            #expect(try r.byte() == 42, "reading lines stops where they end")
        }
        #expect(copy == order)

        // Lines cut short are an error when read, never later.
        for cut in [1, 5, written.count - 2] {
            var broken = OrderState(id: "o-1")
            #expect(throws: BinaryDecodingError.self) {
                try Array(written.prefix(cut)).withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
                    var r = ByteReader(raw)
                    try broken.readLines(&r)
                }
            }
        }
        order.lines = []
        #expect(order.encodedLines.isEmpty && order == OrderState(id: "o-1"))
    }
}
