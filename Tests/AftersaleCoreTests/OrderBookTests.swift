import AftersaleCore
import Testing

@Suite("A customer's orders by id")
struct OrderBookTests {
    @Test("orders are found by id and kept sorted by id, whatever order they arrive in")
    func sortedLookup() {
        var book = OrderBook()
        for id in ["o-3", "o-10", "o-1", "o-2", "a-9"] {
            var order = OrderState(id: id)
            order.total = Int64(id.count)
            book[id] = order
        }
        #expect(book.keys == ["a-9", "o-1", "o-10", "o-2", "o-3"])
        #expect(book.count == 5 && !book.isEmpty)
        #expect(book["o-10"]?.total == 4 && book["o-10"]?.id == "o-10")
        #expect(book["o-4"] == nil && book["o-0"] == nil && book["z"] == nil && book[""] == nil)
    }

    @Test("setting an order replaces it, setting nil removes it, and removing an absent id changes nothing")
    func replaceAndRemove() {
        var book = OrderBook()
        book["o-1"] = OrderState(id: "o-1")
        book["o-2"] = OrderState(id: "o-2")
        var replaced = OrderState(id: "o-1")
        replaced.carrier = "DHL"
        book["o-1"] = replaced
        #expect(book.count == 2 && book["o-1"]?.carrier == "DHL")
        book["o-1"] = nil
        book["o-7"] = nil
        #expect(book.keys == ["o-2"])
    }

    @Test("an order changed through the default subscript is inserted once, in place, at its sorted position")
    func defaultSubscript() {
        var book = OrderBook()
        book["o-5"] = OrderState(id: "o-5")
        book["o-2", default: OrderState(id: "o-2")].carrier = "UPS"
        book["o-2", default: OrderState(id: "o-2")].tracking = "1Z"
        book["o-9", default: OrderState(id: "o-9")].deliveredAt = Timestamp(millis: 5)
        #expect(book.keys == ["o-2", "o-5", "o-9"])
        #expect(book["o-2"]?.carrier == "UPS" && book["o-2"]?.tracking == "1Z")
        #expect(book["o-9"]?.deliveredAt == Timestamp(millis: 5))
        // Reading through it inserts nothing.
        #expect(book["o-1", default: OrderState(id: "o-1")].carrier == nil && book.count == 3)
    }

    @Test("the same orders are equal however they were inserted; different ones are not")
    func equality() {
        var a = OrderBook()
        var b = OrderBook()
        for id in ["o-1", "o-2", "o-3"] { a[id] = OrderState(id: id) }
        for id in ["o-3", "o-1", "o-2"] { b[id] = OrderState(id: id) }
        #expect(a == b)
        b["o-2", default: OrderState(id: "o-2")].carrier = "DHL"
        #expect(a != b)
    }

    @Test("a fold of many orders for one customer finds each by id")
    func manyOrders() {
        var events: [Event] = []
        for i in (0..<40).reversed() {
            events.append(placed("p\(i)", "o-\(i)", "2025-01-10T10:00:00Z", total: "\(i + 1).00"))
            events.append(journeyEvent("d\(i)", .shipmentDelivered, "2025-01-12T10:00:00Z", ["order": .string("o-\(i)")]))
        }
        let state = fold(events)
        #expect(state.orders.count == 40 && state.orderCount == 40)
        #expect(state.orders.values.allSatisfy { $0.deliveredAt != nil && $0.placedAt != nil })
        #expect(state.orders["o-17"]?.total == 1800)
        #expect(state.orders.keys == state.orders.keys.sorted())
    }

    @Test("an order's carrier, tracking and estimated delivery read back as set, and clearing all three leaves no shipment")
    func shipmentFields() {
        var order = OrderState(id: "o-1")
        order.tracking = "1Z"
        #expect(order.carrier == nil && order.tracking == "1Z" && order.estimatedDelivery == nil)
        order.carrier = "UPS"
        order.estimatedDelivery = "2025-01-01"
        #expect(order.carrier == "UPS" && order.tracking == "1Z" && order.estimatedDelivery == "2025-01-01")
        order.tracking = "Ωmega-7"
        #expect(order.carrier == "UPS" && order.tracking == "Ωmega-7" && order.estimatedDelivery == "2025-01-01")
        order.carrier = nil
        order.tracking = nil
        order.estimatedDelivery = nil
        #expect(order == OrderState(id: "o-1") && order.encodedShipment.isEmpty)
    }

    @Test("a later dispatch replaces the fields it gives and keeps the others")
    func dispatchesMerge() throws {
        let state = fold([
            placed("1", "o-1", "2025-01-10T10:00:00Z", total: "9.00"),
            journeyEvent("2", .shipmentDispatched, "2025-01-10T12:00:00Z", ["order": "o-1", "carrier": "DHL", "tracking": "1", "estimated_delivery": "2025-01-12"]),
            journeyEvent("3", .shipmentDispatched, "2025-01-11T12:00:00Z", ["order": "o-1", "tracking": "2"]),
            journeyEvent("4", .shipmentDispatched, "2025-01-11T13:00:00Z", ["order": "o-1"]),
            journeyEvent("5", .shipmentDispatched, "2025-01-11T14:00:00Z", ["order": "o-2", "estimated_delivery": "2025-01-15"]),
        ])
        #expect(state.orders["o-1"]?.carrier == "DHL" && state.orders["o-1"]?.tracking == "2" && state.orders["o-1"]?.estimatedDelivery == "2025-01-12")
        #expect(state.orders["o-1"]?.dispatchedAt == (try Timestamp.parse("2025-01-10T12:00:00Z")))
        #expect(state.orders["o-2"]?.carrier == nil && state.orders["o-2"]?.estimatedDelivery == "2025-01-15")
    }
}
