/// Sums of money kept apart by currency: what a customer's orders, cancellations and refunds add
/// up to in each currency they paid in.
///
/// Stored as minor units by currency code, the form a fold adds to in place and the state codecs
/// write; read as `Money`.
public struct MoneyByCurrency: Sendable, Equatable {
    /// Minor units by ISO 4217 code.
    package var minorUnits: [String: Int64]

    package init(minorUnits: [String: Int64] = [:]) { self.minorUnits = minorUnits }

    /// The sum in `currency`: zero when nothing was counted in it.
    public subscript(currency: Currency) -> Money {
        Money(minorUnits: minorUnits[currency.code, default: 0], currency: currency)
    }

    /// Each currency's sum (zero sums included), ordered by currency code.
    ///
    /// A code that is no ISO 4217 currency can only come from an event the validator refuses,
    /// and is left out.
    public var amounts: [Money] {
        var amounts = minorUnits.compactMap { code, units in Currency(code: code).map { Money(minorUnits: units, currency: $0) } }
        if amounts.count > 1 { amounts.sort { $0.currency.code < $1.currency.code } }
        return amounts
    }

    /// Whether nothing was counted in any currency.
    public var isEmpty: Bool { minorUnits.isEmpty }

    /// These sums less `other`'s, currency by currency.
    public static func - (sums: MoneyByCurrency, other: MoneyByCurrency) -> MoneyByCurrency {
        var difference = sums
        for (code, units) in other.minorUnits { difference.minorUnits[code, default: 0] -= units }
        return difference
    }
}
