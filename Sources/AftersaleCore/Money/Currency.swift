/// An ISO 4217 currency: its alphabetic code and how many decimal places its minor unit has.
public struct Currency: Sendable, Hashable, CustomStringConvertible {
    public let code: String
    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD.
    public let minorUnitDigits: Int

    /// The active ISO 4217 currency with this code, or nil when the code is not one.
    public init?(code: String) {
        // The commonest codes without a look-up in the table: customers' states name their
        // currency by code, and the plays ask for it at every tick.
        if code == "EUR" || code == "USD" || code == "GBP" {
            self.code = code
            self.minorUnitDigits = 2
            return
        }
        guard code.utf8.count == 3, let digits = Currency.table[code] else { return nil }
        self.code = code
        self.minorUnitDigits = digits
    }

    /// The currency a JSON string value names, when it is a valid code.
    public init?<V: JSONReading>(named value: V) {
        guard value.kind == .string,
              let code = value.withText({ utf8 in utf8.count == 3 ? String(decoding: utf8, as: UTF8.self) : nil }) ?? nil
        else { return nil }
        self.init(code: code)
    }

    public var description: String { code }

    /// Active ISO 4217 codes (list one, 2024 edition) with their minor-unit digits.
    /// Funds and metals without a minor unit (XAU, XDR, ...) are left out: shops do not price in them.
    static let table: [String: Int] = {
        var table: [String: Int] = [:]
        let two = """
            AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD \
            CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL \
            GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD \
            LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN \
            PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL \
            THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL
            """
        for code in two.split(separator: " ") { table[String(code)] = 2 }
        for code in "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(separator: " ") {
            table[String(code)] = 0
        }
        for code in "BHD IQD JOD KWD LYD OMR TND".split(separator: " ") { table[String(code)] = 3 }
        for code in "CLF UYW".split(separator: " ") { table[String(code)] = 4 }
        return table
    }()
}
