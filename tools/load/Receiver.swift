import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `aftersale-load receiver --log FILE [--delay-ms N]`: a webhook receiver for the delivery
/// benchmark, on 127.0.0.1 at a port of the system's choosing ("listening on PORT" once it listens).
///
/// tools/receiver/receiver.py is the tests' receiver; this one is for measuring the sender. The
/// Python one spends about a quarter of a millisecond of CPU per request, on the same two cores as
/// the sender it is measuring. This one checks every Standard Webhooks signature too, with its own
/// code (HMAC-SHA256 of "id.timestamp.body" under the secret in $RECEIVER_SECRET), answers 200 to a
/// valid one (after the delay), 401 to anything else, and logs one line per request:
/// `{"id": ..., "status": ...}`.
enum Receiver {
    static func main(_ arguments: [String]) async throws {
        var args = arguments[...]
        var logPath: String?
        var delay = 0
        while let name = args.popFirst() {
            guard let value = args.popFirst() else { fatalError("\(name) needs a value") }
            switch name {
            case "--log": logPath = value
            case "--delay-ms": delay = Int(value)!
            default: fatalError("unknown option \(name)")
            }
        }
        guard let logPath else { fatalError("--log FILE is needed") }
        let pause = delay
        guard let secret = ProcessInfo.processInfo.environment["RECEIVER_SECRET"], secret.hasPrefix("whsec_"),
              let keyBytes = Data(base64Encoded: String(secret.dropFirst(6))) else { fatalError("RECEIVER_SECRET must hold a whsec_ secret") }
        let key = SymmetricKey(data: keyBytes)
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = ReceivedLog(FileHandle(forWritingAtPath: logPath)!)
        let router = Router()
        router.post("hooks") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let id = request.headers[HTTPField.Name("webhook-id")!] ?? ""
            let timestamp = request.headers[HTTPField.Name("webhook-timestamp")!] ?? ""
            let signatures = request.headers[HTTPField.Name("webhook-signature")!] ?? ""
            let valid = Receiver.verify(key: key, id: id, timestamp: timestamp, body: body, header: signatures)
            if valid && pause > 0 { try await Task.sleep(for: .milliseconds(pause)) }
            let status: HTTPResponse.Status = valid ? .ok : .unauthorized
            log.append(id: id, status: status.code)
            return Response(status: status)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in
                                  FileHandle.standardOutput.write(Data("listening on \(channel.localAddress?.port ?? 0)\n".utf8))
                              })
        try await app.runService()
    }

    /// One of the header's `v1,` signatures is HMAC-SHA256 of "id.timestamp.body", and the timestamp
    /// is within 5 minutes of this machine's clock.
    static func verify(key: SymmetricKey, id: String, timestamp: String, body: ByteBuffer, header: String) -> Bool {
        guard let seconds = Int64(timestamp), abs(Int64(Date().timeIntervalSince1970) - seconds) <= 300 else { return false }
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: Array("\(id).\(timestamp).".utf8))
        body.withUnsafeReadableBytes { mac.update(data: $0) }
        let expected = Data(mac.finalize()).base64EncodedString()
        return header.split(separator: " ").contains { entry in
            entry.hasPrefix("v1,") && constantTimeEqual(Array(entry.dropFirst(3).utf8), Array(expected.utf8))
        }
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}

/// The requests' log, a line each, written as they come (the benchmark reads it while this runs).
final class ReceivedLog: @unchecked Sendable {
    private let lock = NSLock()
    private let handle: FileHandle
    init(_ handle: FileHandle) { self.handle = handle }

    func append(id: String, status: Int) {
        let line = Data("{\"id\":\"\(id)\",\"status\":\(status)}\n".utf8)
        lock.withLock { handle.write(line) }
    }
}
