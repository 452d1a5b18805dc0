import AftersaleCore
import AftersaleStore
import AftersaleSQLite
import AftersaleProjections
import AftersaleOutbox
import ShopSimulator
import Testing

/// A customer whose events touch every part of the stored state: consent for three channels,
/// orders placed out of id order, a shipment told in three dispatches, a cancellation, a refund,
/// reviews answered and not, an unboxing shared, a failed delivery, two currencies.
func formatSampleState() throws -> CustomerState {
    func e(_ n: Int, _ type: EventType, _ at: String, _ data: KeyValuePairs<String, JSONValue>) throws -> Event {
        Event(id: "e-\(n)", type: type, customer: "c-1", at: try Timestamp.parse(at), data: JSONObject(data))
    }
    func line(_ sku: String, _ quantity: Int, _ price: String, _ category: String? = nil, _ name: String? = nil) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("sku", .string(sku)), ("quantity", .integer(quantity)), ("price", .string(price))]
        if let category { pairs.append(("category", .string(category))) }
        if let name { pairs.append(("name", .string(name))) }
        var object = JSONObject()
        for (key, value) in pairs { object[key] = value }
        return .object(object)
    }
    let events = [
        try e(1, .customerRegistered, "2025-01-02T09:00:00+01:00", ["email": "zoe@example.com", "name": "Zoë Müller", "birthday": "1990-04-12",
                                                                   "timezone": "Europe/Berlin",
                                                                   "consent": .object(JSONObject(["sms": false, "email": true, "push": true]))]),
        try e(2, .orderPlaced, "2025-01-03T10:00:00Z", ["order": "o-2", "total": "59.80", "currency": "EUR",
                                                        "lines": .array([line("TEA-1", 2, "29.90", "tea", "Sencha"), line("CUP-2", 1, "0.00")])]),
        try e(3, .orderPlaced, "2025-01-04T10:00:00Z", ["order": "o-1", "total": "12.50", "currency": "EUR", "lines": .array([line("TEA-1", 1, "12.50", "tea")])]),
        try e(4, .shipmentDispatched, "2025-01-04T12:00:00Z", ["order": "o-1", "carrier": "DHL", "tracking": "123", "estimated_delivery": "2025-01-07"]),
        try e(5, .shipmentDispatched, "2025-01-04T13:00:00Z", ["order": "o-1", "tracking": "456"]),
        try e(6, .shipmentDispatched, "2025-01-05T08:00:00Z", ["order": "o-2", "estimated_delivery": "2025-01-09T18:00:00Z"]),
        try e(7, .shipmentDelivered, "2025-01-06T15:00:00Z", ["order": "o-1"]),
        try e(8, .shipmentFailed, "2025-01-08T15:00:00Z", ["order": "o-2", "reason": "nobody home"]),
        try e(9, .orderPlaced, "2025-01-10T10:00:00Z", ["order": "o-3", "total": "20", "currency": "USD", "lines": .array([line("MUG-9", 1, "20")])]),
        try e(10, .orderCancelled, "2025-01-10T11:00:00Z", ["order": "o-3"]),
        try e(11, .returnRequested, "2025-01-11T10:00:00Z", ["order": "o-1", "return": "r-1"]),
        try e(12, .returnRefunded, "2025-01-12T10:00:00Z", ["order": "o-1", "return": "r-1", "amount": "5.00", "currency": "EUR"]),
        try e(13, .reviewPosted, "2025-01-13T10:00:00Z", ["review": "rv-1", "sku": "TEA-1", "rating": 2]),
        try e(14, .reviewPosted, "2025-01-13T11:00:00Z", ["review": "rv-2", "sku": "CUP-2", "rating": 5]),
        try e(15, .reviewReplied, "2025-01-14T10:00:00Z", ["review": "rv-2", "text": "Thank you!"]),
        try e(16, .unboxingRecorded, "2025-01-07T10:00:00Z", ["order": "o-1", "shared_on": "instagram"]),
    ]
    var state = CustomerState(customer: "c-1")
    for event in events { state.apply(event) }
    return state
}

@Suite("The stored customer state's format")
struct StateFormatTests {
    /// `formatSampleState()` as format 1 wrote it when this test was written (before orders were
    /// kept sorted in an array and shipments as bytes): rows already stored must keep decoding to
    /// the same state, and the same state must keep encoding to the same bytes.
    static let formatOneBytes = [
        "0103632d31107a6f65406578616d706c652e636f6d0d5a6fc3ab204dc3bc6c6c6572028c1f08180e4575726f70652f42",
        "65726c696e0305656d61696c0104707573680103736d730081b0bae084657803036f2d3181848f8c866500c513044555",
        "5201055445412d3102c41304746561000081f8fd928665000b323032352d30312d30370444484c0434353681868ac287",
        "6500008194f3cc8a65008184a69f8b6500036f2d328194dcb9856500b95d0445555202055445412d3104dc2e04746561",
        "0753656e636861054355502d3202000000008180d3d786650015323032352d30312d30395431383a30303a30305a0000",
        "0081e6efe68865000000036f2d3381a4c0fa896500a11f0455534401054d55472d3902a01f000081def7fd8965000000",
        "00000000000004088194dcb985650081848f8c8665000203455552fc7003555344a01f0103555344a01f0103455552e8",
        "0702f6b902b85df8b902c4130445555203054355502d32054d55472d39055445412d31020200040b02054355502d3205",
        "5445412d31010472762d31010472762d3104020281e48bc48c650020",
    ].joined()

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let next = hex.index(i, offsetBy: 2)
            result.append(UInt8(hex[i..<next], radix: 16)!)
            i = next
        }
        return result
    }

    @Test("a fit's read of a stored state gives the purchase days and currency the whole decoding gives")
    func purchasesAlone() throws {
        var states = [try formatSampleState(), try StateResetTests.fullState()]
        let validator = EventValidator(now: Timestamp(millis: 4_000_000_000_000))
        var folded: [String: CustomerState] = [:]
        for line in ShopSimulation(SimulationConfiguration(seed: 5, customers: 300)) {
            let event = try validator.decode(line: line)
            folded[event.customer, default: CustomerState(customer: event.customer)].apply(event)
        }
        states += folded.keys.sorted().map { folded[$0]! }
        #expect(states.filter { $0.purchaseDays.count > 1 && $0.orders.count > 1 }.count > 50)
        for state in states {
            let bytes = CustomerStateBinaryCodec.encode(state)
            let partial = try bytes.withUnsafeBytes { try CustomerStateBinaryCodec.decodePurchases($0) }
            #expect(partial.purchaseDays == state.purchaseDays, "\(state.customer)")
            #expect(partial.primaryCurrency == state.primaryCurrency, "\(state.customer)")
        }
    }

    @Test("a state encodes to the bytes format 1 has always written, and those bytes decode to it")
    func formatOneIsStable() throws {
        let state = try formatSampleState()
        #expect(state.orders.count == 3 && state.orders["o-1"]?.tracking == "456" && state.orders["o-1"]?.carrier == "DHL")
        #expect(state.orders["o-2"]?.estimatedDelivery == "2025-01-09T18:00:00Z" && state.orders["o-2"]?.carrier == nil)
        #expect(Self.hex(CustomerStateBinaryCodec.encode(state)) == Self.formatOneBytes)
        #expect(try CustomerStateBinaryCodec.decode(Self.bytes(hex: Self.formatOneBytes)) == state)
    }

    @Test("a sealed birthday and the time of a forgetting are stored and read back; without them, the bytes are format one's")
    func sealedBirthdayAndForgetting() throws {
        var state = try formatSampleState()
        state.birthday = nil
        state.sealedBirthday = PersonalData.sealedPrefix + "1:c2VhbGVk"
        state.forgottenAt = try Timestamp.parse("2025-02-01T10:00:00+01:00")
        let bytes = CustomerStateBinaryCodec.encode(state)
        let back = try bytes.withUnsafeBytes { try CustomerStateBinaryCodec.decode($0) }
        #expect(back == state)
        #expect(back.sealedBirthday == state.sealedBirthday && back.forgottenAt == state.forgottenAt)
    }
}

@Suite("A rebuild's state starting over for the next customer")
struct StateResetTests {
    /// The format sample with a return still open: every stored property set.
    static func fullState() throws -> CustomerState {
        var state = try formatSampleState()
        state.apply(Event(id: "e-17", type: .returnRequested, customer: "c-1", at: try Timestamp.parse("2025-01-15T10:00:00Z"),
                          data: JSONObject(["order": "o-2", "return": "r-2"])))
        // Set only when the log seals personal data, and once the customer is forgotten.
        state.sealedBirthday = PersonalData.sealedPrefix + "1:AAAA"
        state.forgottenAt = try Timestamp.parse("2025-02-01T00:00:00Z")
        return state
    }

    @Test("the sample sets every stored property, so the tests that use it cover them all")
    func sampleSetsEverything() throws {
        let sample = try Self.fullState()
        let fresh = CustomerState(customer: "c-1")
        let unset = zip(Mirror(reflecting: sample).children, Mirror(reflecting: fresh).children)
            .filter { $0.0.label != "customer" && "\($0.0.value)" == "\($0.1.value)" }
            .compactMap(\.0.label)
        #expect(unset == [])
    }

    @Test("a state reset for another customer equals that customer's new state, however full it was")
    func resetIsANewState() throws {
        var state = try Self.fullState()
        state.reset(customer: "c-2")
        #expect(state == CustomerState(customer: "c-2"))
        // Stored, it is the bytes of a new state: nothing of the previous customer is left over.
        #expect(CustomerStateBinaryCodec.encode(state) == CustomerStateBinaryCodec.encode(CustomerState(customer: "c-2")))
    }
}
