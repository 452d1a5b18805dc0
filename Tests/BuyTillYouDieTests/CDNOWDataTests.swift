import BuyTillYouDie
import Testing

@Suite("CDNOW sample data")
struct CDNOWDataTests {
    @Test func countsMatchThePaper() {
        #expect(CDNOW.transactions.count == 6919)
        #expect(CDNOW.customers.count == 2357)
        #expect(CDNOW.statistics.customerCount == 2357)
        #expect(CDNOW.statistics.repeatBuyerCount == 946)
    }

    @Test func ageOfAJanuaryFirstCustomerIs38Point86Weeks() {
        // Customer 1 first bought on 1997-01-01.
        let customer = CDNOW.customers[1]!
        #expect(rounded(customer.age, 2) == 38.86)
        #expect(customer.age == 272.0 / 7)
    }

    @Test func summaryMergesSameDayPurchasesAndExcludesTheFirstFromSpend() {
        let purchases = [
            Purchase(day: 10, value: 5), Purchase(day: 10, value: 7),  // first occasion, 12
            Purchase(day: 17, value: 3), Purchase(day: 17, value: 1),  // one repeat occasion, 4
            Purchase(day: 24, value: 10),  // second repeat occasion
            Purchase(day: 40, value: 99),  // after calibration
        ]
        let summary = RFMSummary(purchases: purchases, calibrationEnd: 31, unit: .week)!
        #expect(summary.frequency == 2)
        #expect(summary.recency == 2)
        #expect(summary.age == 3)
        #expect(summary.monetaryValue == 7)
        #expect(RFMSummary(purchases: purchases, calibrationEnd: 9, unit: .day) == nil)
        let once = RFMSummary(purchases: [Purchase(day: 3, value: 1)], calibrationEnd: 10, unit: .day)!
        #expect(once == RFMSummary(frequency: 0, recency: 0, age: 7, monetaryValue: nil))
    }

    @Test func sufficientStatisticsCollapseIdenticalTriples() {
        let customers = [
            RFMSummary(frequency: 0, recency: 0, age: 5),
            RFMSummary(frequency: 0, recency: 0, age: 5),
            RFMSummary(frequency: 2, recency: 3, age: 5, monetaryValue: 10),
            RFMSummary(frequency: 2, recency: 3, age: 5, monetaryValue: 20),
            RFMSummary(frequency: 2, recency: 4, age: 5),
        ]
        let statistics = SufficientStatistics(customers)
        #expect(statistics.rows == [
            .init(frequency: 0, recency: 0, age: 5, count: 2),
            .init(frequency: 2, recency: 3, age: 5, count: 2),
            .init(frequency: 2, recency: 4, age: 5, count: 1),
        ])
        #expect(statistics.customerCount == 5)
        #expect(statistics.repeatBuyerCount == 3)
        #expect(SufficientStatistics(rows: statistics.rows + statistics.rows).customerCount == 10)
        // Far fewer rows than customers on CDNOW.
        #expect(CDNOW.statistics.rows.count < CDNOW.statistics.customerCount)
    }
}
