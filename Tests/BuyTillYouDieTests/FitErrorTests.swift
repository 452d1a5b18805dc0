import BuyTillYouDie
import Testing

@Suite("Fit errors")
struct FitErrorTests {
    @Test func iterationCapIsReportedInWords() {
        #expect {
            try BGNBD.fit(CDNOW.statistics, options: FitOptions(maxIterations: 3))
        } throws: { error in
            guard case let .didNotConverge(model, iterations, norm, tolerance)? = error as? FitError else { return false }
            let text = String(describing: error)
            return model == "BG/NBD" && iterations == 3 && norm > tolerance
                && text.hasPrefix("BG/NBD did not converge after 3 iterations: gradient norm ")
                && text.hasSuffix(" > 1.0e-08")
        }
    }

    @Test func noRepeatBuyersIsInsufficientData() {
        let oneTimers = SufficientStatistics((1...50).map { RFMSummary(frequency: 0, recency: 0, age: Double($0)) })
        #expect(throws: FitError.insufficientData(model: "BG/NBD", reason: "no repeat buyers")) {
            try BGNBD.fit(oneTimers)
        }
        #expect(throws: FitError.insufficientData(model: "Pareto/NBD", reason: "no repeat buyers")) {
            try ParetoNBD.fit(oneTimers)
        }
        #expect(throws: FitError.insufficientData(model: "Gamma-Gamma", reason: "0 repeat buyers with spend for 3 parameters")) {
            try GammaGamma.fit([RFMSummary(frequency: 0, recency: 0, age: 3)])
        }
    }

    @Test func fewerCustomersThanParametersIsInsufficientData() {
        let three = SufficientStatistics([
            RFMSummary(frequency: 1, recency: 2, age: 5),
            RFMSummary(frequency: 0, recency: 0, age: 5),
            RFMSummary(frequency: 3, recency: 4, age: 5),
        ])
        #expect {
            try BGNBD.fit(three)
        } throws: { error in
            String(describing: error) == "BG/NBD cannot be fitted: 3 customers for 4 parameters"
        }
    }

    @Test func aLikelihoodWithoutInteriorMaximumFails() {
        // Everyone bought on the last day: no sign of dropout, so a → 0 (or b → ∞).
        let neverLeaving = SufficientStatistics((1...200).map {
            RFMSummary(frequency: 1 + $0 % 7, recency: Double(30 + $0 % 11), age: Double(30 + $0 % 11))
        })
        #expect {
            try BGNBD.fit(neverLeaving)
        } throws: { error in
            guard let error = error as? FitError else { return false }
            switch error {
            case .parameterDiverged, .didNotConverge, .lineSearchFailed: return String(describing: error).contains("did not converge")
            default: return false
            }
        }
    }
}
