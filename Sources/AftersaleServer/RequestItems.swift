import AftersaleCore
import AftersaleIngest
import AftersaleSources
import AftersaleStore
#if canImport(Glibc)
import Glibc
#endif

/// A request body that is not what the route takes: 400, naming the line.
struct BodyError: Error, Sendable, CustomStringConvertible {
    var line: Int?
    var reason: String
    var description: String { line.map { "line \($0): \(reason)" } ?? reason }
}

/// One item of a request, and how its outcome is reported.
struct RequestItem: Sendable {
    /// `line N` of an NDJSON body, `[N]` of an array, a webhook's topic...
    var origin: String
    /// The event id, when the item had one.
    var id: String?
    var item: IntakeItem
    /// For a rejected item: `field: why`.
    var rejection: EventError?
}

/// Turns request bodies into intake items: envelopes validated by the same decoder as `ingest`,
/// the rest kept as rejects with the text sent.
struct RequestItems {
    var decoder: NDJSONDecoder
    let source: String

    init(now: Timestamp, source: String) {
        decoder = NDJSONDecoder(validator: EventValidator(now: now))
        self.source = source
    }

    /// `POST /v1/events`: NDJSON, or one JSON array of envelopes. A line (or body) that is not JSON
    /// fails the whole request: nothing of it is appended, and the client gets the line to fix.
    mutating func envelopes(_ body: [UInt8]) throws(BodyError) -> [RequestItem] {
        let firstByte = body.first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\t") }
        if firstByte == UInt8(ascii: "[") {
            let root: JSONValue
            do { root = try body.withUnsafeBufferPointer { b throws(JSONSyntaxError) in try JSONParser.parse(b) } } catch {
                throw BodyError(line: nil, reason: "not JSON: \(error)")
            }
            guard let elements = root.arrayValue else { throw BodyError(line: nil, reason: "expected an array of events") }
            return elements.enumerated().compactMap { index, element in
                envelope(Array(element.compactText.utf8), origin: "[\(index)]")
            }
        }
        var items: [RequestItem] = []
        var failure: BodyError?
        body.withUnsafeBufferPointer { body in
            var start = 0
            var number = 0
            while start < body.count {
                number += 1
                // memchr: the lines are found at the speed of memory, and each is read where it lies.
                let base: UnsafePointer<UInt8> = body.baseAddress!
                var end = body.count
                if let found = memchr(base + start, Int32(UInt8(ascii: "\n")), body.count - start) {
                    end = UnsafePointer<UInt8>(found.assumingMemoryBound(to: UInt8.self)) - base
                }
                var lineEnd = end
                if lineEnd > start && base[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                let line = UnsafeBufferPointer<UInt8>(start: base + start, count: lineEnd - start)
                start = end + 1
                guard let item = envelope(line, origin: "line \(number)") else { continue }  // blank, or a # comment
                if let rejection = item.rejection, rejection.field == "json" {
                    failure = BodyError(line: number, reason: "not JSON: \(rejection.reason)")
                    return
                }
                items.append(item)
            }
        }
        if let failure { throw failure }
        return items
    }

    /// One envelope's text: an event to append, or a reject to keep; nil for a blank line or a comment.
    mutating func envelope(_ text: [UInt8], origin: String, condition: MappedEvent.Condition = .always) -> RequestItem? {
        text.withUnsafeBufferPointer { envelope($0, origin: origin, condition: condition) }
    }

    /// The same, over bytes where they lie.
    mutating func envelope(_ text: UnsafeBufferPointer<UInt8>, origin: String, condition: MappedEvent.Condition = .always) -> RequestItem? {
        do {
            let encoded = try decoder.encode(text)
            guard let encoded else { return nil }
            return RequestItem(origin: origin, id: encoded.id, item: .event(encoded, condition: condition), rejection: nil)
        } catch {
            let raw = String(decoding: text, as: UTF8.self)
            let id = (try? JSONParser.parse(raw))?["id"]?.stringValue
            return RequestItem(origin: origin, id: id,
                               item: .rejected(RejectedInput(source: source, origin: origin, raw: raw, reason: error.description)),
                               rejection: error)
        }
    }
}
