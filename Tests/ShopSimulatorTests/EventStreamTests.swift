import Foundation
import ShopSimulator
import Testing

@Suite("Event stream")
struct EventStreamTests {
    static let requiredData: [String: [String]] = [
        "customer.registered": [],
        "customer.updated": [],
        "order.placed": ["order", "total", "currency", "lines"],
        "order.cancelled": ["order"],
        "shipment.dispatched": ["order"],
        "shipment.delivered": ["order"],
        "shipment.failed": ["order"],
        "unboxing.recorded": ["order"],
        "return.requested": ["order", "return"],
        "return.refunded": ["order", "return", "amount", "currency"],
        "review.posted": ["review", "sku", "rating"],
        "review.replied": ["review"],
    ]

    @Test("same seed gives identical lines; another seed gives different ones")
    func determinism() {
        var configuration = SimulationConfiguration(seed: 11, customers: 2_000)
        #expect(Array(ShopSimulation(configuration)) == Fixtures.fullShop)
        configuration.seed = 12
        let other = Array(ShopSimulation(configuration).prefix(500))
        #expect(other != Array(Fixtures.fullShop.prefix(500)))
    }

    @Test("writeNDJSON writes exactly the iterated lines, newline-terminated")
    func bytesMatchLines() {
        var bytes: [UInt8] = []
        let count = ShopSimulation(Fixtures.fullShopConfiguration).writeNDJSON(chunkBytes: 10_000) { chunk in
            #expect(chunk.last == UInt8(ascii: "\n"))
            bytes += chunk
        }
        #expect(count == Fixtures.fullShop.count)
        #expect(bytes == Array(Fixtures.fullShop.map { $0 + "\n" }.joined().utf8))
    }

    @Test("events are in nondecreasing time order inside the period, with unique ids")
    func timeOrder() throws {
        let events = Fixtures.parse(Fixtures.fullShop)
        let configuration = Fixtures.fullShopConfiguration
        var previous = Int64.min
        var ids = Set<String>()
        for event in events {
            let event = try #require(event)
            let at = try #require(Fixtures.unixSeconds(event["at"] as? String ?? ""))
            #expect(at >= previous)
            #expect(at >= configuration.start && at < configuration.end)
            previous = at
            ids.insert(event["id"] as? String ?? "")
        }
        #expect(ids.count == events.count)
        #expect(events.count > 15_000)
    }

    @Test("every line is a JSON object with the required fields of its type")
    func schema() throws {
        var typesSeen = Set<String>()
        for (line, parsed) in zip(Fixtures.fullShop, Fixtures.parse(Fixtures.fullShop)) {
            let event = try #require(parsed, "not a JSON object: \(line)")
            let type = try #require(event["type"] as? String)
            typesSeen.insert(type)
            #expect(event["id"] is String)
            let customer = try #require(event["customer"] as? String)
            #expect(customer.hasPrefix("c-") && customer.count == 8)
            #expect(Fixtures.unixSeconds(event["at"] as? String ?? "") != nil)
            let data = try #require(event["data"] as? [String: Any])
            let required = try #require(Self.requiredData[type], "unknown type \(type)")
            for field in required {
                #expect(data[field] != nil, "\(type) lacks \(field): \(line)")
            }
            switch type {
            case "customer.registered":
                #expect((data["email"] as? String)?.hasSuffix("@example.com") == true)
                let consent = try #require(data["consent"] as? [String: Any])
                #expect(consent["email"] is Bool && consent["sms"] is Bool)
                if let birthday = data["birthday"] as? String {
                    #expect(birthday.count == 10 && Fixtures.unixSeconds(birthday + "T00:00:00Z") != nil)
                }
            case "order.placed":
                #expect(Fixtures.isMoney(data["total"]))
                #expect(data["currency"] as? String == "EUR")
                let lines = try #require(data["lines"] as? [[String: Any]])
                #expect((1...4).contains(lines.count))
                for orderLine in lines {
                    #expect(orderLine["sku"] is String)
                    #expect((orderLine["quantity"] as? Int ?? 0) >= 1)
                    #expect(Fixtures.isMoney(orderLine["price"]))
                }
            case "shipment.dispatched":
                #expect(Fixtures.unixSeconds(data["estimated_delivery"] as? String ?? "") != nil)
            case "return.refunded":
                #expect(Fixtures.isMoney(data["amount"]))
            case "review.posted", "unboxing.recorded":
                #expect((1...5).contains(data["rating"] as? Int ?? 0))
            default:
                break
            }
        }
        #expect(typesSeen == Set(Self.requiredData.keys))
    }

    @Test("order totals equal the sum of line price × quantity exactly, in cents")
    func totals() throws {
        var orders = 0
        for case let event? in Fixtures.parse(Fixtures.fullShop) where event["type"] as? String == "order.placed" {
            let data = try #require(event["data"] as? [String: Any])
            let total = try #require(SimulatedMoney.cents(data["total"] as? String ?? ""))
            let lines = try #require(data["lines"] as? [[String: Any]])
            var sum: Int64 = 0
            for line in lines {
                let price = try #require(SimulatedMoney.cents(line["price"] as? String ?? ""))
                #expect(price >= 1)
                sum += price * Int64(line["quantity"] as? Int ?? 0)
            }
            #expect(sum == total)
            orders += 1
        }
        #expect(orders > 3_000)
    }

    @Test("references point back to earlier events of the same customer")
    func references() throws {
        struct Order { var total: Int64; var skus: Set<String>; var cancelled = false; var dispatched = false }
        var orders: [String: Order] = [:]  // keyed by customer + order id
        var returns: [String: Int64] = [:]
        var refunded: [String: Int64] = [:]
        var reviews = Set<String>()
        var registered = Set<String>()
        for case let event? in Fixtures.parse(Fixtures.fullShop) {
            let type = event["type"] as? String ?? ""
            let customer = event["customer"] as? String ?? ""
            let data = event["data"] as? [String: Any] ?? [:]
            let key = customer + "/" + (data["order"] as? String ?? "-")
            switch type {
            case "customer.registered":
                #expect(registered.insert(customer).inserted, "registered twice: \(customer)")
            case "order.placed":
                #expect(registered.contains(customer), "order before registration")
                let lines = data["lines"] as? [[String: Any]] ?? []
                #expect(orders[key] == nil, "order id reused")
                orders[key] = Order(
                    total: SimulatedMoney.cents(data["total"] as? String ?? "") ?? -1,
                    skus: Set(lines.compactMap { $0["sku"] as? String }))
            case "customer.updated":
                #expect(registered.contains(customer))
            case "order.cancelled":
                #expect(orders[key] != nil, "cancel of unknown order \(key)")
                #expect(orders[key]?.dispatched == false)
                orders[key]?.cancelled = true
            case "shipment.dispatched", "shipment.failed", "shipment.delivered", "unboxing.recorded":
                #expect(orders[key] != nil, "\(type) for unknown order \(key)")
                #expect(orders[key]?.cancelled == false, "\(type) for a cancelled order \(key)")
                if type == "shipment.dispatched" { orders[key]?.dispatched = true }
                if type != "shipment.dispatched" { #expect(orders[key]?.dispatched == true) }
            case "return.requested":
                let order = try #require(orders[key], "return for unknown order \(key)")
                #expect(!order.cancelled)
                let lines = data["lines"] as? [[String: Any]] ?? []
                #expect(!lines.isEmpty)
                for line in lines { #expect(order.skus.contains(line["sku"] as? String ?? "")) }
                returns[customer + "/" + (data["return"] as? String ?? "")] = order.total
            case "return.refunded":
                let returnKey = customer + "/" + (data["return"] as? String ?? "")
                let total = try #require(returns[returnKey], "refund without return \(returnKey)")
                let amount = try #require(SimulatedMoney.cents(data["amount"] as? String ?? ""))
                #expect(amount > 0 && amount <= total)
                #expect(refunded[returnKey] == nil)
                refunded[returnKey] = amount
            case "review.posted":
                let order = try #require(orders[key], "review for unknown order \(key)")
                #expect(order.skus.contains(data["sku"] as? String ?? ""))
                reviews.insert(customer + "/" + (data["review"] as? String ?? ""))
            case "review.replied":
                #expect(reviews.contains(customer + "/" + (data["review"] as? String ?? "")), "reply to unknown review")
            default:
                Issue.record("unexpected type \(type)")
            }
        }
        #expect(!refunded.isEmpty && !reviews.isEmpty)
    }

    @Test("the cap stops after exactly N events, and the capped stream is a prefix", arguments: [0, 1, 1_000, 12_345])
    func cap(events: Int) {
        var configuration = Fixtures.fullShopConfiguration
        configuration.maxEvents = events
        let capped = Array(ShopSimulation(configuration))
        #expect(capped.count == events)
        #expect(capped == Array(Fixtures.fullShop.prefix(events)))
        var bytes = 0
        let written = ShopSimulation(configuration).writeNDJSON { bytes += $0.count }
        #expect(written == events)
    }

    @Test("a cap beyond the end of the shop yields the whole shop")
    func capBeyondEnd() {
        var configuration = Fixtures.fullShopConfiguration
        configuration.maxEvents = 10_000_000
        #expect(Array(ShopSimulation(configuration)).count == Fixtures.fullShop.count)
    }

    @Test("the benchmark preset yields exactly the requested number of events")
    func benchmarkPreset() {
        let simulation = ShopSimulation(.benchmark(events: 100_000, seed: 3))
        var stream = simulation.makeIterator()
        var buffer: [UInt8] = []
        var lines = 0
        while stream.appendNextLine(to: &buffer) { lines += 1 }
        #expect(lines == 100_000)
        #expect(buffer.filter { $0 == UInt8(ascii: "\n") }.count == 100_000)
    }

    @Test("the purchases-only preset emits only registrations and orders, never cancelled")
    func purchasesOnly() {
        var types: [String: Int] = [:]
        for case let event? in Fixtures.parse(Fixtures.purchasesOnly) {
            types[event["type"] as? String ?? "", default: 0] += 1
        }
        #expect(Set(types.keys) == ["customer.registered", "order.placed"])
        #expect(types["customer.registered"] == Fixtures.purchasesOnlyConfiguration.customers)
    }

    @Test("side processes change neither purchases nor baskets")
    func sideProcessesIndependent() {
        var full = Fixtures.purchasesOnlyConfiguration
        full.sideProcesses = true
        full.fulfilment.cancellationRate = 0.02
        full.maxEvents = 40_000
        let withSideProcesses = ShopSimulation(full).filter { $0.contains("\"type\":\"order.placed\"") }
        let orders = Fixtures.purchasesOnly.filter { $0.contains("\"type\":\"order.placed\"") }
        func stripID(_ line: String) -> Substring { line[line.range(of: "\"type\"")!.lowerBound...] }
        #expect(withSideProcesses.count > 1_000)
        #expect(withSideProcesses.map(stripID) == orders.prefix(withSideProcesses.count).map(stripID))
    }

    @Test("repeat orders favour the previous order's category (cross-sell structure)")
    func crossSell() throws {
        var lastCategory: [String: String] = [:]
        var same = 0
        var repeats = 0
        var categoryCounts: [String: Int] = [:]
        for case let event? in Fixtures.parse(Fixtures.fullShop) where event["type"] as? String == "order.placed" {
            let customer = event["customer"] as? String ?? ""
            let lines = (event["data"] as? [String: Any])?["lines"] as? [[String: Any]] ?? []
            let category = try #require(lines.first?["category"] as? String)
            categoryCounts[category, default: 0] += 1
            if let previous = lastCategory[customer] {
                repeats += 1
                if previous == category { same += 1 }
            }
            lastCategory[customer] = category
        }
        let total = Double(categoryCounts.values.reduce(0, +))
        let chance = categoryCounts.values.map { (Double($0) / total) * (Double($0) / total) }.reduce(0, +)
        #expect(repeats > 500)
        #expect(Double(same) / Double(repeats) > chance + 0.2)
    }
}
