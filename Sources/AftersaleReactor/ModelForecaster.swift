public import AftersaleCore
internal import CustomerValue

extension ReactorEngine {
    /// An engine whose plays see the customer-value predictions of the latest `model.fitted` event
    /// in the log (P(alive), predicted value, next order), as live runs, dispatch and replay do.
    public static func withFittedModels(configuration: ReactorConfiguration) -> ReactorEngine {
        ReactorEngine(configuration: configuration, makeForecaster: ReactorEngine.forecaster(fromModelEvent:))
    }

    /// A forecaster from a `model.fitted` event; nil when the event holds no model this build reads.
    @Sendable public static func forecaster(fromModelEvent event: Event) -> (@Sendable (CustomerState, Timestamp) -> CustomerForecast?)? {
        guard let model = FittedModel(event: event) else { return nil }
        let forecast = LifetimeValue.forecaster(for: model)
        return { state, at in
            forecast(state, at).map {
                CustomerForecast(pAlive: $0.probabilityAlive, expectedNextOrderAt: $0.expectedNextOrder,
                                 repeatProbability: $0.repeatPurchaseProbability90Days, clvCurrency: $0.currency, clvAtMost: $0.valueAtMost,
                                 boundHoldsLater: $0.boundHoldsLater, clv: $0.value)
            }
        }
    }
}
