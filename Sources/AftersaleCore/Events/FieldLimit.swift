/// The longest string the log accepts in a field of each kind, in characters.
///
/// Far above anything a shop sends (Shopify's ids are under 64 characters, a long review a few
/// thousand), so only a broken or hostile sender meets them; below them, one line cannot fill the
/// log, the read models, exports and reports with a single value. Characters are Unicode scalar
/// values, as JSON Schema's `maxLength` counts them: the catalogue's schemas carry the same
/// numbers, and events/README.md explains them.
public enum FieldLimit: Sendable, CaseIterable {
    /// Ids (event `id`, `customer`, order, shipment, return, review, SKU, action, ...), and the
    /// names of time zones and consent channels.
    case identifier
    /// Free text: review and reply text, reasons, names, e-mail, carrier, tracking, URLs, ...
    case text

    /// The most characters a value may have.
    public var maxLength: Int {
        switch self {
        case .identifier: 256
        case .text: 32_768
        }
    }

    /// What the limit is for, in an error's reason.
    var name: String {
        switch self {
        case .identifier: "an id"
        case .text: "free text"
        }
    }

    /// The length in characters of a value over the limit, nil for one within it.
    ///
    /// Characters are counted only when the bytes are over the limit (no character is shorter
    /// than a byte), so a value within it costs one comparison of a length already known.
    @inline(__always) func excess(_ utf8: UnsafeBufferPointer<UInt8>) -> Int? {
        guard utf8.count > maxLength else { return nil }
        let characters = utf8.reduce(0) { count, byte in byte & 0xC0 == 0x80 ? count : count + 1 }  // continuation bytes start 10
        return characters > maxLength ? characters : nil
    }

    /// The reason a value of `length` characters is refused.
    func reason(_ length: Int) -> String { "too long: \(length) characters (at most \(maxLength) for \(name))" }
}
