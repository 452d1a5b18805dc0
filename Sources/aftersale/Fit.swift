import AftersaleCore
import AftersaleProjections
import AftersaleStore
public import ArgumentParser
import BuyTillYouDie
import CustomerValue
import Foundation

extension Aftersale {
    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fit",
            abstract: "Fit the customer-value models on the log and record the fit as a model.fitted event.",
            discussion: """
                Fits the purchase process (BG/NBD or Pareto/NBD) and Gamma-Gamma spend by maximum \
                likelihood on purchases up to --as-of (default: the day of the last event). Purchase \
                occasions are distinct days. Below a minimum of data it says it cannot predict yet, and why.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Option(help: "bgnbd or paretonbd.")
        var model: PurchaseModelKind = .bgnbd

        @Option(name: .customLong("as-of"), help: ArgumentHelp("Fit on purchases up to and including this day.", valueName: "YYYY-MM-DD"))
        var asOf: String?

        @Option(help: "The time unit of the parameters: day or week.")
        var unit: TimeUnit = .week

        @Option(help: "Refuse to fit with fewer repeat buyers than this.")
        var minRepeatBuyers = 200

        @Flag(help: "Print the fit as a JSON object.")
        var json = false

        func validate() throws {
            if let asOf, CivilDate.parse(asOf) == nil { throw ValidationError("--as-of \(asOf) is not a YYYY-MM-DD date") }
        }

        func run() throws {
            let log = try database.openLog()
            let projection = try CustomerProjection(log: log)
            try projection.catchUp()
            guard let end = try asOf.flatMap(CivilDate.parse) ?? log.latestEventTime().map({ CivilDate(daysSinceEpoch: $0.utcDay) }) else {
                throw CommandFailure("cannot predict yet: the log has no events")
            }
            // One customer at a time, and of each only the purchase days: the fit keeps a summary
            // per customer, not their state.
            var input = LifetimeValue.FitInput(asOf: end, unit: unit)
            try projection.forEachPurchaseHistory { input.add($0) }
            let started = Stopwatch.seconds()
            let fitted: FittedModel
            do {
                fitted = try LifetimeValue.fit(input, kind: model, requirements: .init(minimumRepeatBuyers: minRepeatBuyers))
            } catch {
                throw CommandFailure(error.description)
            }
            let fitMilliseconds = (Stopwatch.seconds() - started) * 1000
            var event = fitted.event()
            event.meta = JSONObject(["fit_ms": .double((fitMilliseconds * 100).rounded() / 100), "source": .string("aftersale fit")])
            let outcome = try log.append([EncodedEvent(event)], recorded: try WallClock.now())[0]

            if json {
                var params = JSONObject()
                for name in FittedModel.parameterNames(fitted.kind) { params[name] = .double(fitted.parameters[name] ?? 0) }
                var object = JSONObject([
                    "model": .string(fitted.kind.rawValue), "params": .object(params), "log_likelihood": .double(fitted.logLikelihood),
                    "customers": .integer(fitted.customers), "repeat_buyers": .integer(fitted.repeatBuyers),
                    "calibration_end": .string(fitted.calibrationEnd.description), "unit": .string(fitted.unit.rawValue),
                    "iterations": .integer(fitted.iterations), "fit_ms": .double((fitMilliseconds * 100).rounded() / 100),
                    "currency": .string(fitted.currency), "event": .string(event.id),
                ])
                if let spend = fitted.spend {
                    object["spend"] = .object(JSONObject(["p": .double(spend.p), "q": .double(spend.q), "gamma": .double(spend.gamma)]))
                }
                print(JSONValue.object(object).compactText)
                return
            }
            let params = FittedModel.parameterNames(fitted.kind).map { "\($0) \(format(fitted.parameters[$0] ?? 0))" }
            print("\(fitted.kind.displayName) on \(fitted.customers) customers (\(fitted.repeatBuyers) repeat buyers), purchases through \(fitted.calibrationEnd), unit \(fitted.unit.rawValue)")
            print("  " + params.joined(separator: "  "))
            print(String(format: "  log-likelihood %.3f, %d iterations, fit %.1f ms", fitted.logLikelihood, fitted.iterations, fitMilliseconds))
            if let spend = fitted.spend {
                print("  spend (Gamma-Gamma, \(fitted.currency)): p \(format(spend.p))  q \(format(spend.q))  gamma \(format(spend.gamma))")
            }
            switch outcome {
            case .appended(let position, _): print("  recorded as model.fitted \(event.id) at position \(position)")
            case .duplicate(let position): print("  the same fit is already recorded at position \(position)")
            case .conflict(let position): print("  warning: \(event.id) at position \(position) differs from this fit")
            }
        }

        func format(_ x: Double) -> String { String(format: "%.4f", x) }
    }
}

extension PurchaseModelKind: ExpressibleByArgument {}
extension TimeUnit: ExpressibleByArgument {}
