// The load's HTTP/1.1 client: N keep-alive connections on a small event loop group (one thread by
// default), each a closed loop (one request, its whole response, then the next). It has no task, no
// HTTP codec and no header dictionary per request: the constant part of the request head is encoded
// once, each connection writes its requests into one reused buffer and reads the responses with the
// few lines of parsing below (status, Content-Length or chunked, Connection: close), which leaves
// the CPU of a shared machine to the server being measured.
import Foundation
import NIOCore
import NIOPosix

/// A connection failed, or the server answered something this client cannot read.
struct ClosedLoopFailure: Error, CustomStringConvertible {
    var description: String
}

/// What all the connections of one load share: the bodies, the request head's constant part and
/// the counters (the only shared mutable state, each behind its own lock).
final class ClosedLoopPlan: Sendable {
    let bodies: [String]
    /// "POST path HTTP/1.1", Host, Content-Type and the constant headers, each line ending in CRLF.
    let head: [UInt8]
    let headers: (@Sendable (Int) -> [(String, String)])?
    let next: ManagedAtomicCounter
    let deadline: Double
    let progress: ManagedAtomicCounter?
    let failed: ManagedAtomicCounter?
    /// A paced load: request i is due `i * interval` nanoseconds after `start` (uptime), whichever
    /// connection takes it, and its latency counts from then. Nil: each connection sends its next
    /// request as soon as it has the last one's answer.
    let pace: (start: UInt64, interval: Double)?

    init(port: Int, path: String, contentType: String, constantHeaders: [(String, String)], headers: (@Sendable (Int) -> [(String, String)])?,
         bodies: [String], next: ManagedAtomicCounter, deadline: Double, progress: ManagedAtomicCounter?, failed: ManagedAtomicCounter?,
         requestsPerSecond: Double? = nil) {
        var head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: \(contentType)\r\n"
        for (name, value) in constantHeaders { head += "\(name): \(value)\r\n" }
        self.head = Array(head.utf8)
        self.headers = headers
        self.bodies = bodies
        self.next = next
        self.deadline = deadline
        self.progress = progress
        self.failed = failed
        pace = requestsPerSecond.map { (DispatchTime.now().uptimeNanoseconds, 1e9 / $0) }
    }
}

/// One connection's latencies (seconds) and non-200 answers, kept across its reconnections.
/// Only the connection's event loop touches it until the connection's future completes.
final class ConnectionTally: @unchecked Sendable {
    var latencies: [Double] = []
    /// Requests that took `slowSeconds` or more: when each was sent (uptime, nanoseconds, the
    /// clock the server's "engine caught up" lines give) and its latency, to set beside the server's log.
    var slow: [(sentAt: UInt64, seconds: Double)] = []
    static let slowSeconds = 0.05
    var failures = 0
}

enum ClosedLoop {
    /// Runs `connections` closed loops against 127.0.0.1:`port` until the plan's bodies run out or
    /// its deadline passes; throws the first connection's failure.
    static func run(port: Int, plan: ClosedLoopPlan, connections: Int, threads: Int = 1) async throws -> [ConnectionTally] {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        do {
            let tallies = try await withThrowingTaskGroup(of: ConnectionTally.self) { tasks in
                for _ in 0..<connections {
                    tasks.addTask { try await connection(group: group, port: port, plan: plan) }
                }
                var all: [ConnectionTally] = []
                for try await tally in tasks { all.append(tally) }
                return all
            }
            try await group.shutdownGracefully()
            return tallies
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// One connection's loop; a new connection when the server closes one after a whole response.
    static func connection(group: MultiThreadedEventLoopGroup, port: Int, plan: ClosedLoopPlan) async throws -> ConnectionTally {
        let tally = ConnectionTally()
        while true {
            let loop = group.next()
            let done = loop.makePromise(of: ClosedLoopHandler.Outcome.self)
            do {
                _ = try await ClientBootstrap(group: loop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(ClosedLoopHandler(plan: plan, tally: tally, done: done))
                        }
                    }
                    .connect(host: "127.0.0.1", port: port).get()
            } catch {
                let failure = ClosedLoopFailure(description: "aftersale-load: connecting to 127.0.0.1:\(port) failed: \(error)")
                done.fail(failure)
                throw failure
            }
            if try await done.futureResult.get() == .finished { return tally }
        }
    }
}

/// A connection's closed loop: writes a request when the connection opens and after each whole
/// response, until the bodies run out or the deadline passes.
final class ClosedLoopHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Outcome { case finished, reconnect }

    /// Where the response being read is.
    private enum Reading {
        case idle, head
        case body(remaining: Int)
        case untilClose
        case chunkSize
        /// A chunk's data and the CRLF after it.
        case chunkData(remaining: Int)
        case trailers
    }

    private let plan: ClosedLoopPlan
    private let tally: ConnectionTally
    private let done: EventLoopPromise<Outcome>
    private var request = ByteBuffer()
    private var inbox = ByteBuffer()
    private var reading = Reading.idle
    private var status = 0
    private var closeAfter = false
    private var sentAt: UInt64 = 0
    private var over = false

    init(plan: ClosedLoopPlan, tally: ConnectionTally, done: EventLoopPromise<Outcome>) {
        self.plan = plan
        self.tally = tally
        self.done = done
    }

    func handlerAdded(context: ChannelHandlerContext) {
        request = context.channel.allocator.buffer(capacity: 4096)
        inbox = context.channel.allocator.buffer(capacity: 4096)
    }

    func channelActive(context: ChannelHandlerContext) {
        sendNext(context: context)
    }

    private func sendNext(context: ChannelHandlerContext) {
        if seconds() > plan.deadline { return finish(context: context, .finished) }
        let i = plan.next.next()
        guard i < plan.bodies.count else { return finish(context: context, .finished) }
        request.clear()
        request.writeBytes(plan.head)
        if let headers = plan.headers {
            for (name, value) in headers(i) {
                request.writeString(name)
                request.writeStaticString(": ")
                request.writeString(value)
                request.writeStaticString("\r\n")
            }
        }
        let body = plan.bodies[i]
        request.writeStaticString("Content-Length: ")
        writeDecimal(body.utf8.count)
        request.writeStaticString("\r\n\r\n")
        request.writeString(body)
        reading = .head
        status = 0
        closeAfter = false
        let now = DispatchTime.now().uptimeNanoseconds
        guard let pace = plan.pace else {
            sentAt = now
            return context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        }
        // A paced request's latency counts from when it was due, not from when a connection was
        // free to send it: a server that falls behind shows it in the latencies (no coordinated
        // omission), as a shop's webhooks would wait in its platform's queue.
        let due = pace.start + UInt64(Double(i) * pace.interval)
        sentAt = due
        guard due > now else { return context.writeAndFlush(wrapOutboundOut(request), promise: nil) }
        let channel = context.channel, bytes = request
        context.eventLoop.scheduleTask(in: .nanoseconds(Int64(due - now))) {
            channel.writeAndFlush(bytes, promise: nil)
        }
    }

    private func writeDecimal(_ n: Int) {
        request.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { out in
            var digits = 1, m = n
            while m >= 10 {
                m /= 10
                digits += 1
            }
            m = n
            for k in stride(from: digits - 1, through: 0, by: -1) {
                out[k] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
            }
            return digits
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if case .idle = reading {
            if over { return }
            return fail(context: context, "\(incoming.readableBytes) bytes from the server with no request in flight")
        }
        inbox.writeBuffer(&incoming)
        read(context: context)
    }

    /// Reads what the inbox holds of the response; answers it and sends the next request once whole.
    private func read(context: ChannelHandlerContext) {
        while true {
            switch reading {
            case .idle, .untilClose:
                inbox.clear()
                return
            case .head:
                guard let head = parseHead() else {
                    if inbox.readableBytes > 65536 { return fail(context: context, "a response head over 64 KiB") }
                    return
                }
                if let error = head.error { return fail(context: context, error) }
                inbox.moveReaderIndex(forwardBy: head.size)
                status = head.status
                closeAfter = head.close
                if (100..<200).contains(status) { continue }  // informational: the real answer follows
                if status == 204 || status == 304 {
                    reading = .body(remaining: 0)
                } else if head.chunked {
                    reading = .chunkSize
                } else if let length = head.length {
                    reading = .body(remaining: length)
                } else {
                    reading = .untilClose
                    closeAfter = true
                }
            case .body(let remaining):
                let left = skip(remaining)
                if left > 0 {
                    reading = .body(remaining: left)
                    return
                }
                return answered(context: context)
            case .chunkSize:
                guard let line = lineEnd() else { return }
                guard let size = chunkSize(line) else { return fail(context: context, "a malformed chunk size line") }
                inbox.moveReaderIndex(forwardBy: line + 2)
                reading = size == 0 ? .trailers : .chunkData(remaining: size + 2)
            case .chunkData(let remaining):
                let left = skip(remaining)
                if left > 0 {
                    reading = .chunkData(remaining: left)
                    return
                }
                reading = .chunkSize
            case .trailers:
                guard let line = lineEnd() else { return }
                inbox.moveReaderIndex(forwardBy: line + 2)
                if line == 0 { return answered(context: context) }
            }
        }
    }

    /// Skips up to `remaining` bytes of what has come (a body is counted, not kept): the bytes still
    /// to come, 0 once all have.
    private func skip(_ remaining: Int) -> Int {
        let n = min(remaining, inbox.readableBytes)
        inbox.moveReaderIndex(forwardBy: n)
        if remaining > n { inbox.clear() }
        return remaining - n
    }

    /// The response just read: its latency, and whether it was a 200.
    private func count() {
        let latency = Double(DispatchTime.now().uptimeNanoseconds - sentAt) / 1e9
        tally.latencies.append(latency)
        if latency >= ConnectionTally.slowSeconds { tally.slow.append((sentAt, latency)) }
        if status != 200 {
            tally.failures += 1
            _ = plan.failed?.next()
        } else {
            _ = plan.progress?.next()
        }
    }

    /// A whole response: its latency and status counted, then the next request (or a new connection).
    private func answered(context: ChannelHandlerContext) {
        count()
        reading = .idle
        if inbox.readableBytes > 0 { return fail(context: context, "\(inbox.readableBytes) bytes after a whole response") }
        inbox.clear()
        if closeAfter { return finish(context: context, .reconnect) }
        sendNext(context: context)
    }

    private struct Head {
        var size = 0
        var status = 0
        var length: Int?
        var chunked = false
        var close = false
        var error: String?
    }

    /// The response head in the inbox (nil until its empty line has arrived).
    private func parseHead() -> Head? {
        inbox.withUnsafeReadableBytes { raw -> Head? in
            let n = raw.count
            var end = 0
            var i = 0
            while i + 3 < n {
                if raw[i] == 13 && raw[i + 1] == 10 && raw[i + 2] == 13 && raw[i + 3] == 10 {
                    end = i + 4
                    break
                }
                i += 1
            }
            if end == 0 { return nil }
            var head = Head(size: end)
            // "HTTP/1.x SSS reason"
            func digit(_ at: Int) -> Int? { raw[at] >= 48 && raw[at] <= 57 ? Int(raw[at] - 48) : nil }
            guard end >= 14, raw[0] == UInt8(ascii: "H"), raw[4] == UInt8(ascii: "/"), raw[5] == UInt8(ascii: "1"), raw[8] == UInt8(ascii: " "),
                  let s0 = digit(9), let s1 = digit(10), let s2 = digit(11) else {
                var lineEnd = 0
                while lineEnd < min(end, 80) && raw[lineEnd] != 13 { lineEnd += 1 }
                head.error = "a malformed status line: \(String(decoding: raw[0..<lineEnd], as: UTF8.self))"
                return head
            }
            head.status = s0 * 100 + s1 * 10 + s2
            var keepAlive = raw[7] != UInt8(ascii: "0")  // HTTP/1.0 closes unless it says keep-alive
            var line = 0
            while raw[line] != 13 || raw[line + 1] != 10 { line += 1 }
            line += 2
            while line < end - 2 {
                var lineEnd = line
                while raw[lineEnd] != 13 || raw[lineEnd + 1] != 10 { lineEnd += 1 }
                var colon = line
                while colon < lineEnd && raw[colon] != UInt8(ascii: ":") { colon += 1 }
                if colon < lineEnd {
                    var v = colon + 1, ve = lineEnd
                    while v < ve && (raw[v] == 32 || raw[v] == 9) { v += 1 }
                    while ve > v && (raw[ve - 1] == 32 || raw[ve - 1] == 9) { ve -= 1 }
                    if lowercased(raw, line, colon, equals: "content-length") {
                        var value = 0
                        guard v < ve else { head.error = "an empty Content-Length"; return head }
                        for k in v..<ve {
                            guard let d = digit(k) else { head.error = "a malformed Content-Length"; return head }
                            value = value * 10 + d
                        }
                        head.length = value
                    } else if lowercased(raw, line, colon, equals: "transfer-encoding") {
                        head.chunked = ve - v >= 7 && lowercased(raw, ve - 7, ve, equals: "chunked")
                    } else if lowercased(raw, line, colon, equals: "connection") {
                        if contains(raw, v, ve, "close") { keepAlive = false }
                        if contains(raw, v, ve, "keep-alive") { keepAlive = true }
                    }
                }
                line = lineEnd + 2
            }
            head.close = !keepAlive
            return head
        }
    }

    /// The offset of the next CRLF in the inbox, if it has one.
    private func lineEnd() -> Int? {
        inbox.withUnsafeReadableBytes { raw in
            var i = 0
            while i + 1 < raw.count {
                if raw[i] == 13 && raw[i + 1] == 10 { return i }
                i += 1
            }
            return nil
        }
    }

    /// A chunk size line's hexadecimal size (before any extension).
    private func chunkSize(_ length: Int) -> Int? {
        inbox.withUnsafeReadableBytes { raw in
            var size = 0, digits = 0
            for i in 0..<length {
                let c = raw[i] | 0x20
                if c >= 48 && c <= 57 {
                    size = size * 16 + Int(c - 48)
                } else if c >= 97 && c <= 102 {
                    size = size * 16 + Int(c - 87)
                } else {
                    break
                }
                digits += 1
            }
            return digits > 0 && digits <= 15 ? size : nil
        }
    }

    private var inFlight: Bool {
        if case .idle = reading { return false }
        return true
    }

    func channelInactive(context: ChannelHandlerContext) {
        if over { return }
        if case .untilClose = reading {
            // A response delimited by the connection's end: whole now.
            over = true
            count()
            done.succeed(.reconnect)
            return
        }
        fail(context: context, "the server closed the connection" + (inFlight ? " with a request in flight" : ""))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, "\(error)")
    }

    private func finish(context: ChannelHandlerContext, _ outcome: Outcome) {
        if over { return }
        over = true
        reading = .idle
        context.close(promise: nil)
        done.succeed(outcome)
    }

    private func fail(context: ChannelHandlerContext, _ message: String) {
        if over { return }
        over = true
        reading = .idle
        context.close(promise: nil)
        done.fail(ClosedLoopFailure(description: "aftersale-load: a connection to \(context.channel.remoteAddress.map { "\($0)" } ?? "the server") failed: \(message)"))
    }
}

/// Whether raw[from..<to], its ASCII letters lowercased, is `literal` (lowercase).
private func lowercased(_ raw: UnsafeRawBufferPointer, _ from: Int, _ to: Int, equals literal: StaticString) -> Bool {
    guard to - from == literal.utf8CodeUnitCount else { return false }
    let l = literal.utf8Start
    for k in 0..<(to - from) {
        let b = raw[from + k]
        if (b >= 65 && b <= 90 ? b | 0x20 : b) != l[k] { return false }
    }
    return true
}

/// Whether raw[from..<to], lowercased, contains `literal` (ASCII, lowercase).
private func contains(_ raw: UnsafeRawBufferPointer, _ from: Int, _ to: Int, _ literal: StaticString) -> Bool {
    let count = literal.utf8CodeUnitCount
    guard to - from >= count else { return false }
    for start in from...(to - count) where lowercased(raw, start, start + count, equals: literal) { return true }
    return false
}
