public import AftersaleCore

/// One row of `products.csv`: a SKU's sales in one currency, its returns and its reviews.
public struct ProductRow: ExportRow, Equatable {
    public static let exportName = "products"
    public static let columns = [
        "sku", "name", "category", "currency", "units_sold", "orders", "revenue", "returned_orders", "return_rate",
        "reviews", "mean_rating", "unanswered_reviews",
    ]

    public var sku: String
    public var name: String?
    public var category: String?
    /// nil for a SKU that was reviewed but never sold.
    public var currency: String?
    public var unitsSold: Int
    /// Orders containing the SKU.
    public var orders: Int
    /// Sum of quantity x unit price over those lines, in minor units of `currency`.
    public var revenue: Int64
    /// Of `orders`, those with a return request.
    public var returnedOrders: Int
    /// Reviews of the SKU (all currencies: repeated on each currency's row).
    public var reviews: Int
    public var ratingSum: Int
    public var unansweredReviews: Int

    public init(sku: String, name: String? = nil, category: String? = nil, currency: String?, unitsSold: Int, orders: Int,
                revenue: Int64, returnedOrders: Int, reviews: Int, ratingSum: Int, unansweredReviews: Int) {
        self.sku = sku
        self.name = name
        self.category = category
        self.currency = currency
        self.unitsSold = unitsSold
        self.orders = orders
        self.revenue = revenue
        self.returnedOrders = returnedOrders
        self.reviews = reviews
        self.ratingSum = ratingSum
        self.unansweredReviews = unansweredReviews
    }

    /// Orders with a return request / orders containing the SKU; nil without orders.
    public var returnRate: Double? { orders == 0 ? nil : Double(returnedOrders) / Double(orders) }
    /// Mean star rating; nil without reviews.
    public var meanRating: Double? { reviews == 0 ? nil : Double(ratingSum) / Double(reviews) }

    public var values: [ExportValue] {
        let digits = currency.flatMap { Currency(code: $0)?.minorUnitDigits } ?? 2
        return [
            .text(sku), .text(name), .text(category), .text(currency), .integer(Int64(unitsSold)), .integer(Int64(orders)),
            currency == nil ? .missing : .money(minorUnits: revenue, digits: digits), .integer(Int64(returnedOrders)),
            .fixed(returnRate, digits: probabilityDigits), .integer(Int64(reviews)), .fixed(meanRating, digits: 2),
            .integer(Int64(unansweredReviews)),
        ]
    }
}

/// Per-SKU sales, returns and reviews, tallied one order and one review at a time.
///
/// The result does not depend on the order things are added in: a SKU's name and category are
/// taken from the latest placed order that has them (ties broken by order id).
public struct ProductTally: Sendable {
    private struct SalesKey: Hashable { var sku: String; var currency: String }
    private struct Sales { var units = 0; var orders = 0; var revenue: Int64 = 0; var returned = 0 }
    private struct Label { var at: Int64; var order: String; var name: String?; var category: String? }
    private struct Reviews { var count = 0; var ratingSum = 0; var unanswered = 0 }

    private var sales: [SalesKey: Sales] = [:]
    private var labels: [String: Label] = [:]
    private var reviews: [String: Reviews] = [:]

    public init() {}

    /// Adds an order's lines; orders not placed or cancelled are ignored.
    public mutating func add(order: OrderState) {
        guard let placed = order.placedAt, order.cancelledAt == nil else { return }
        let currency = order.currency ?? ""
        var seen: Set<String> = []
        for line in order.lines {
            let key = SalesKey(sku: line.sku, currency: currency)
            var s = sales[key] ?? Sales()
            s.units += line.quantity
            s.revenue += Int64(line.quantity) * line.price
            if seen.insert(line.sku).inserted {
                s.orders += 1
                if order.returnRequestedAt != nil { s.returned += 1 }
            }
            sales[key] = s
            if line.name != nil || line.category != nil {
                let candidate = Label(at: placed.millis, order: order.id, name: line.name, category: line.category)
                if let current = labels[line.sku] {
                    if (candidate.at, candidate.order) > (current.at, current.order) { labels[line.sku] = candidate }
                } else {
                    labels[line.sku] = candidate
                }
            }
        }
    }

    /// Adds every order of a customer.
    public mutating func add(_ state: CustomerState) {
        for order in state.orders.values { add(order: order) }
    }

    /// Adds a review of `sku`.
    public mutating func addReview(sku: String, rating: Int, answered: Bool) {
        var r = reviews[sku] ?? Reviews()
        r.count += 1
        r.ratingSum += rating
        if !answered { r.unanswered += 1 }
        reviews[sku] = r
    }

    /// Adds a review row.
    public mutating func add(review: ReviewRow) {
        addReview(sku: review.sku, rating: review.rating, answered: review.repliedAt != nil)
    }

    /// One row per SKU and currency sold in (one row for a SKU only reviewed), sorted by SKU, then currency.
    public func rows() -> [ProductRow] {
        var rows: [ProductRow] = []
        var soldSKUs: Set<String> = []
        for (key, s) in sales {
            soldSKUs.insert(key.sku)
            let r = reviews[key.sku] ?? Reviews()
            let label = labels[key.sku]
            rows.append(ProductRow(sku: key.sku, name: label?.name, category: label?.category,
                                   currency: key.currency.isEmpty ? nil : key.currency, unitsSold: s.units, orders: s.orders,
                                   revenue: s.revenue, returnedOrders: s.returned, reviews: r.count, ratingSum: r.ratingSum,
                                   unansweredReviews: r.unanswered))
        }
        for (sku, r) in reviews where !soldSKUs.contains(sku) {
            rows.append(ProductRow(sku: sku, currency: nil, unitsSold: 0, orders: 0, revenue: 0, returnedOrders: 0,
                                   reviews: r.count, ratingSum: r.ratingSum, unansweredReviews: r.unanswered))
        }
        return rows.sorted { ($0.sku, $0.currency ?? "") < ($1.sku, $1.currency ?? "") }
    }
}
