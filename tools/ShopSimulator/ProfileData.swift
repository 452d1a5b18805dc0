/// Fixed word lists for profiles, carriers, reasons and texts (all deterministic).
enum ProfileData {
    static let firstNames = [
        "Anna", "Lukas", "Marie", "Jonas", "Sophie", "Leon", "Emma", "Felix", "Mia", "Paul",
        "Léa", "Noah", "Hannah", "Elias", "Clara", "Finn", "Lina", "Ben", "Zoë", "Matteo",
    ]
    static let lastNames = [
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Dubois", "Martin",
        "de Vries", "Jansen", "García", "Rossi", "O'Brien", "Smith", "Novak", "Hofmann", "Keller", "Bauer",
    ]
    static let timezones = [
        "Europe/Berlin", "Europe/Vienna", "Europe/Zurich", "Europe/Paris", "Europe/Amsterdam",
        "Europe/London", "Europe/Madrid", "America/New_York",
    ]
    static let timezoneWeights = [0.35, 0.08, 0.07, 0.12, 0.10, 0.10, 0.08, 0.10]
    static let carriers = ["DHL", "DPD", "GLS", "UPS", "Hermes"]
    /// Upper-case three-letter tracking-number prefixes, one per carrier.
    static let trackingPrefixes: [[UInt8]] = carriers.map { $0.utf8.prefix(3).map { $0 & 0xDF } }
    static let failureReasons = ["recipient absent", "address not found", "parcel damaged", "no access to building"]
    static let socialNetworks = ["instagram", "tiktok", "youtube", "pinterest"]
    static let socialWeights = [0.5, 0.35, 0.1, 0.05]
    static let returnReasons = [
        "too small", "too large", "not as described", "arrived damaged", "changed my mind", "better price elsewhere",
    ]
    /// Review texts by rating (index 0 is one star).
    static let reviewTexts: [[String]] = [
        ["Broke within a week.", "Would not recommend.", "Nothing like the pictures."],
        ["Not great, I expected more.", "Quality is disappointing.", "Had problems after a few days."],
        ["It's okay.", "Does the job, nothing special.", "Average quality for the price."],
        ["Very good, small details could be better.", "Happy with it.", "Good value for money."],
        ["Absolutely love it!", "Exactly as described, would buy again.", "Great quality and \"super\" fast delivery."],
    ]
    static let positiveReplies = [
        "Thank you for your review!", "Thanks for the kind words, enjoy your purchase.",
        "We're glad you like it!",
    ]
    static let apologeticReplies = [
        "Sorry to hear that. Our support team will contact you.",
        "Thanks for the honest feedback; we have passed it on to the product team.",
        "We're sorry it didn't meet your expectations. Please reach out for a replacement.",
    ]
}
