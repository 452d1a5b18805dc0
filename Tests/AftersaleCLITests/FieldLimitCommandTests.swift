import Foundation
import Testing

@Suite("Over-long ids and text at ingest, end to end")
struct FieldLimitCommandTests {
    @Test("an NDJSON line with a 300-character customer is refused as FILE:LINE: customer: why and kept in the rejects file")
    func overLongCustomerInNDJSON() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let customer = String(repeating: "c", count: 300)
        let bad = #"{"id":"e-2","type":"order.cancelled","customer":"\#(customer)","at":"2025-01-01T00:00:00Z","data":{"order":"o-2"}}"#
        let input = cli.write("orders.ndjson", """
            {"id":"e-1","type":"order.cancelled","customer":"c-1","at":"2025-01-01T00:00:00Z","data":{"order":"o-1"}}
            \(bad)
            {"id":"e-3","type":"order.cancelled","customer":"\(String(repeating: "d", count: 256))","at":"2025-01-01T00:00:00Z","data":{"order":"o-3"}}

            """)
        let result = try cli.run(["ingest", input])
        #expect(result.status == 1)
        #expect(result.stdout == "appended 2, duplicates 0, rejected 1\n", "\(result.stderr)")
        let message = "\(input):2: customer: too long: 300 characters (at most 256 for an id)"
        #expect(result.stderr.contains(message + "\n"), "\(result.stderr)")
        let rejects = try String(contentsOfFile: cli.path("orders.rejects.ndjson"), encoding: .utf8)
        #expect(rejects == "# \(message)\n\(bad)\n")
        #expect(try cli.run(["log"]).stdout.hasPrefix("head position 2, 2 customers"), "the line at the limit went in")
    }

    @Test("a transactions CSV row with an over-long customer_id or order_id is refused the same way")
    func overLongIdsInCSV() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let longCustomer = "1," + String(repeating: "7", count: 257) + ",19970101,29.33"
        let longOrder = String(repeating: "o", count: 1_000) + ",2,19970102,10.00"
        let input = cli.write("tx.csv", "order_id,customer_id,date,amount\n\(longCustomer)\n\(longOrder)\n3,3,19970103,5.00\n")
        let result = try cli.run(["ingest", "--format", "transactions", "--currency", "USD", input])
        #expect(result.status == 1)
        #expect(result.stdout == "appended 1, duplicates 0, rejected 2\n", "\(result.stderr)")
        #expect(result.stderr.contains("\(input):2: customer_id: too long: 257 characters (at most 256 for an id)\n"), "\(result.stderr)")
        #expect(result.stderr.contains("\(input):3: order_id: too long: 1000 characters (at most 256 for an id)\n"), "\(result.stderr)")
        let rejects = try String(contentsOfFile: cli.path("tx.rejects.csv"), encoding: .utf8)
        #expect(rejects == """
            order_id,customer_id,date,amount
            # \(input):2: customer_id: too long: 257 characters (at most 256 for an id)
            \(longCustomer)
            # \(input):3: order_id: too long: 1000 characters (at most 256 for an id)
            \(longOrder)

            """)
    }
}
