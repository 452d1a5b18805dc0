import AftersaleCore
import AftersaleSQLite
import Foundation
import Testing

/// The demo shop's decisions, pinned: a change that makes the engine faster must not make it decide
/// differently. The digest was recorded from the engine as it was before the reactor's speed work
/// (commit 931ceb4's binary, `aftersale demo --customers 300`), and checked against that binary's
/// own outbox row by row.
@Suite("the demo shop's outbox")
struct DemoDigestTests {
    /// FNV-1a 128 of every command's `id|status|due|channel` line, in id order.
    static let recordedDigest = "13d947799d9a22fa860395606ec31a74"
    static let recordedCommands = 6216

    @Test("every command of a 300-customer demo keeps its id, status, due time and channel")
    func outboxDigest() throws {
        let cli = CLI()
        defer { cli.cleanUp() }
        let run = try cli.run(["demo", "--customers", "300", "--db", cli.path("demo.db"), "--out", cli.path("report.html")])
        #expect(run.status == 0, "\(run.stderr)")
        let database = try Database(path: cli.path("demo.db"), readOnly: true)
        let rows = try database.prepare("SELECT id, status, due, channel FROM outbox ORDER BY id")
        var text = ""
        var count = 0
        while try rows.step() {
            text += "\(rows.text(0) ?? "")|\(rows.text(1) ?? "")|\(rows.int64(2))|\(rows.text(3) ?? "")\n"
            count += 1
        }
        #expect(count == Self.recordedCommands)
        #expect(StableHash.fnv128Hex(text) == Self.recordedDigest)
    }
}
