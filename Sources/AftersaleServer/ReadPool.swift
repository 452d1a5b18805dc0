import AftersaleSQLite
import AftersaleStore
import Foundation

/// Connections for the read routes, each used by one request at a time, on threads of their own:
/// SQLite calls block, and the cooperative pool that runs requests has one thread per core.
final class ReadPool: @unchecked Sendable {
    private let path: String
    private let lock = NSLock()
    private var idle: [EventLog] = []
    private let queue = DispatchQueue(label: "aftersale-reads", attributes: .concurrent)

    private let cacheMebibytes: Int

    /// Shared with the service's other writers: an erasure writes through a reading connection.
    private let writerTurns: WriterTurns?

    init(path: String, cacheMebibytes: Int = 64, writerTurns: WriterTurns? = nil) {
        self.path = path
        self.cacheMebibytes = cacheMebibytes
        self.writerTurns = writerTurns
    }

    private func open() throws -> EventLog {
        try EventLog.openForService(path: path, cacheMebibytes: cacheMebibytes, writerTurns: writerTurns)
    }

    /// Runs `body` with a connection of the pool, off the request's thread.
    func read<T: Sendable>(_ body: @escaping @Sendable (EventLog) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                do {
                    let log = try lock.withLock { idle.popLast() } ?? open()
                    defer { lock.withLock { idle.append(log) } }
                    continuation.resume(returning: try body(log))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
