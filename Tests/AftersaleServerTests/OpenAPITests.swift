import AftersaleServer
import Foundation
import Hummingbird
import Testing

@Suite("openapi.yaml")
struct OpenAPITests {
    /// `METHOD /path` for each operation under `paths:` (two-space paths, four-space methods).
    static func documented() throws -> Set<String> {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("openapi.yaml")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var inPaths = false
        var path: String?
        var found = Set<String>()
        for line in lines {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if !line.hasPrefix(" ") && !line.isEmpty { break }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "),
                      let method = ["get", "post", "put", "patch", "delete"].first(where: { line == "    \($0):" }) {
                found.insert("\(method.uppercased()) \(path)")
            }
        }
        return found
    }

    @Test("documents exactly the routes the server has")
    func routesMatch() throws {
        let server = try TestServer()
        defer { server.parts.stop() }
        let router = Routes.router(server.parts)
        let served = Set(router.routes.map { "\($0.method) \($0.path)" })
        let documented = try OpenAPITests.documented()
        #expect(documented.count >= 10)
        #expect(served == documented, "served only: \(served.subtracting(documented)); documented only: \(documented.subtracting(served))")
    }
}
