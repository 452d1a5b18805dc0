internal import Glibc

/// Reads a file (or standard input) in large chunks and hands out its lines with their numbers.
///
/// Memory stays at one chunk plus the longest line, however large the file.
struct LineReader: ~Copyable {
    let fd: Int32
    let ownsDescriptor: Bool
    /// Total size when known (regular files), for progress.
    let size: Int64?
    private(set) var bytesRead: Int64 = 0
    static let chunkSize = 1 << 20

    init(path: String) throws(IngestError) {
        if path == "-" {
            fd = 0
            ownsDescriptor = false
            size = nil
            return
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw IngestError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw IngestError("\(path): is a directory")
        }
        self.fd = fd
        ownsDescriptor = true
        size = (info.st_mode & S_IFMT) == S_IFREG ? Int64(info.st_size) : nil
    }

    deinit { if ownsDescriptor { close(fd) } }

    /// Calls `body(lineNumber, bytes)` for every line, without its line terminator (LF or CRLF).
    mutating func forEachLine(_ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: LineReader.chunkSize)
        var pending: [UInt8] = []  // the start of a line that continues in the next chunk
        var lineNumber = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw IngestError("read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytesRead += Int64(n)
            try buffer.withUnsafeBufferPointer { chunk in
                var start = 0
                while start < n {
                    // memchr: a byte-at-a-time loop spends several instructions on every byte.
                    guard let found = memchr(chunk.baseAddress! + start, 0x0A, n - start) else {
                        pending.append(contentsOf: chunk[start..<n])
                        break
                    }
                    let end = UnsafeRawPointer(found) - UnsafeRawPointer(chunk.baseAddress!)
                    lineNumber += 1
                    if pending.isEmpty {
                        try LineReader.emit(UnsafeBufferPointer(rebasing: chunk[start..<end]), lineNumber, body)
                    } else {
                        pending.append(contentsOf: chunk[start..<end])
                        try pending.withUnsafeBufferPointer { try LineReader.emit($0, lineNumber, body) }
                        pending.removeAll(keepingCapacity: true)
                    }
                    start = end + 1
                }
            }
        }
        if !pending.isEmpty {
            lineNumber += 1
            try pending.withUnsafeBufferPointer { try LineReader.emit($0, lineNumber, body) }
        }
    }

    private static func emit(_ line: UnsafeBufferPointer<UInt8>, _ number: Int,
                             _ body: (Int, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        if let last = line.last, last == 0x0D {
            try body(number, UnsafeBufferPointer(rebasing: line[0..<(line.count - 1)]))
        } else {
            try body(number, line)
        }
    }
}

/// A failure that stops an ingest (as opposed to a rejected line, which does not).
public struct IngestError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
