public import AftersaleCore
public import BuyTillYouDie

/// The purchase-process models a shop can fit.
public enum PurchaseModelKind: String, Sendable, CaseIterable {
    case bgnbd
    case paretonbd

    public var displayName: String { self == .bgnbd ? "BG/NBD" : "Pareto/NBD" }
}

/// A fitted customer-value model: the content of a `model.fitted` event.
///
/// Predictions are made from this record alone, so every prediction can be reproduced from the log.
public struct FittedModel: Sendable, Equatable {
    public var kind: PurchaseModelKind
    /// r, alpha, a, b (BG/NBD) or r, alpha, s, beta (Pareto/NBD), in `unit`.
    public var parameters: [String: Double]
    public var logLikelihood: Double
    /// The last day whose purchases the fit saw.
    public var calibrationEnd: CivilDate
    public var unit: TimeUnit
    /// Customers in the fit (with a first purchase by the calibration end, in `currency`).
    public var customers: Int
    public var repeatBuyers: Int
    /// Hash of the sufficient statistics, unit, calibration end and model.
    public var fingerprint: String
    /// Gamma-Gamma spend parameters, in major units of `currency`.
    public var spend: GammaGamma?
    public var currency: String
    public var iterations: Int

    /// The purchase model with these parameters.
    public var purchaseModel: any PurchaseModel {
        switch kind {
        case .bgnbd:
            BGNBD(r: parameters["r"] ?? 0, alpha: parameters["alpha"] ?? 0, a: parameters["a"] ?? 0, b: parameters["b"] ?? 0)
        case .paretonbd:
            ParetoNBD(r: parameters["r"] ?? 0, alpha: parameters["alpha"] ?? 0, s: parameters["s"] ?? 0, beta: parameters["beta"] ?? 0)
        }
    }

    public static func parameterNames(_ kind: PurchaseModelKind) -> [String] {
        kind == .bgnbd ? ["r", "alpha", "a", "b"] : ["r", "alpha", "s", "beta"]
    }

    /// The `model.fitted` event recording this fit, in the system stream.
    ///
    /// Its id is derived from the fingerprint, so fitting the same data again is a duplicate.
    public func event() -> Event {
        var params = JSONObject()
        for name in FittedModel.parameterNames(kind) { params[name] = .double(parameters[name] ?? 0) }
        var data = JSONObject([
            "model": .string(kind.rawValue), "params": .object(params), "log_likelihood": .double(logLikelihood),
            "calibration_end": .string(calibrationEnd.description), "unit": .string(unit.rawValue),
            "customers": .integer(customers), "fingerprint": .string(fingerprint),
        ])
        if let spend {
            data["spend"] = .object(JSONObject(["p": .double(spend.p), "q": .double(spend.q), "gamma": .double(spend.gamma)]))
        }
        data["iterations"] = .integer(iterations)
        data["repeat_buyers"] = .integer(repeatBuyers)
        data["currency"] = .string(currency)
        // End of the calibration day: when the knowledge the fit used was complete.
        let at = Timestamp(millis: (calibrationEnd.daysSinceEpoch + 1) * Timestamp.millisPerDay - 1000)
        return Event(id: "model-\(kind.rawValue)-\(fingerprint)", type: .modelFitted, customer: EventType.systemCustomer,
                     at: at, data: data)
    }

    /// Reads a `model.fitted` event back; nil when it is not one this version understands.
    public init?(event: Event) {
        let d = event.data
        guard event.type == .modelFitted, let kind = d["model"]?.stringValue.flatMap(PurchaseModelKind.init(rawValue:)),
              let params = d["params"]?.objectValue, let ll = d["log_likelihood"]?.doubleValue,
              let end = d["calibration_end"]?.stringValue.flatMap(CivilDate.parse),
              let unit = d["unit"]?.stringValue.flatMap(TimeUnit.init(rawValue:)) else { return nil }
        self.kind = kind
        parameters = [:]
        for member in params.members { parameters[member.key] = member.value.doubleValue }
        logLikelihood = ll
        calibrationEnd = end
        self.unit = unit
        customers = d["customers"]?.intValue ?? 0
        repeatBuyers = d["repeat_buyers"]?.intValue ?? 0
        fingerprint = d["fingerprint"]?.stringValue ?? ""
        if let s = d["spend"]?.objectValue, let p = s["p"]?.doubleValue, let q = s["q"]?.doubleValue, let g = s["gamma"]?.doubleValue {
            spend = GammaGamma(p: p, q: q, gamma: g)
        }
        currency = d["currency"]?.stringValue ?? ""
        iterations = d["iterations"]?.intValue ?? 0
    }

    public init(kind: PurchaseModelKind, parameters: [String: Double], logLikelihood: Double, calibrationEnd: CivilDate,
                unit: TimeUnit, customers: Int, repeatBuyers: Int, fingerprint: String, spend: GammaGamma?, currency: String,
                iterations: Int) {
        self.kind = kind
        self.parameters = parameters
        self.logLikelihood = logLikelihood
        self.calibrationEnd = calibrationEnd
        self.unit = unit
        self.customers = customers
        self.repeatBuyers = repeatBuyers
        self.fingerprint = fingerprint
        self.spend = spend
        self.currency = currency
        self.iterations = iterations
    }
}
