/// A product category of the simulated shop.
public struct ProductCategory: Sendable, Hashable {
    /// Lower-case name as emitted in order lines, e.g. `cosmetics`.
    public let name: String
    /// Three-letter SKU prefix, e.g. `COS`.
    public let code: String
    /// Typical days until a consumable is used up and bought again; nil for durables.
    public let replenishmentDays: ClosedRange<Int>?
    /// Indices (into `Catalogue.categories`) of categories often bought together with this one.
    public let complements: [Int]
    /// Relative popularity when a customer picks a category at random.
    public let popularity: Double

    /// True when products of this category are used up and replenished.
    public var isConsumable: Bool { replenishmentDays != nil }
}

/// A product the simulated shop sells.
public struct Product: Sendable, Hashable {
    /// Stock-keeping unit, e.g. `COS-007`.
    public let sku: String
    /// Display name.
    public let name: String
    /// Index into `Catalogue.categories`.
    public let category: Int
    /// List price in minor units (cents).
    public let price: Int64
}

/// The product catalogue: categories, products and which categories sell together.
public struct Catalogue: Sendable {
    /// All categories.
    public let categories: [ProductCategory]
    /// All products, grouped by category.
    public let products: [Product]
    /// Product indices per category, in popularity order (most popular first).
    public let productsByCategory: [[Int]]

    /// The standard catalogue: 8 categories, 160 SKUs, euro-like list prices.
    public static let standard = Catalogue(blueprints: Catalogue.blueprints)

    /// The product with the given SKU, if any.
    public func product(sku: String) -> Product? {
        products.first { $0.sku == sku }
    }

    /// Index of the category with this name, if any.
    public func categoryIndex(named name: String) -> Int? {
        categories.firstIndex { $0.name == name }
    }

    struct Blueprint: Sendable {
        let name: String
        let code: String
        let replenishment: ClosedRange<Int>?
        let complements: [String]
        let popularity: Double
        let variants: (String, String)
        let types: [(String, Int)]
    }

    init(blueprints: [Blueprint]) {
        var categories: [ProductCategory] = []
        var products: [Product] = []
        var byCategory: [[Int]] = []
        let names = blueprints.map(\.name)
        for (categoryIndex, blueprint) in blueprints.enumerated() {
            categories.append(ProductCategory(
                name: blueprint.name,
                code: blueprint.code,
                replenishmentDays: blueprint.replenishment,
                complements: blueprint.complements.map { names.firstIndex(of: $0)! },
                popularity: blueprint.popularity
            ))
            var indices: [Int] = []
            var number = 1
            // Interleave variants so popularity rank alternates between the cheap and premium line.
            for (typeName, euros) in blueprint.types {
                for (variant, factor) in [(blueprint.variants.0, 1.0), (blueprint.variants.1, 1.5)] {
                    let wholeEuros = Int((Double(euros) * factor).rounded())
                    let sku = blueprint.code + "-" + (number < 10 ? "00" : "0") + String(number)
                    indices.append(products.count)
                    products.append(Product(
                        sku: sku,
                        name: variant + " " + typeName,
                        category: categoryIndex,
                        price: Int64(wholeEuros) * 100 - 5
                    ))
                    number += 1
                }
            }
            byCategory.append(indices)
        }
        self.categories = categories
        self.products = products
        self.productsByCategory = byCategory
    }

    static let blueprints: [Blueprint] = [
        Blueprint(
            name: "cosmetics", code: "COS", replenishment: 56...84, complements: ["apparel", "fitness"],
            popularity: 0.22, variants: ("Classic", "Sensitive"),
            types: [("Face Cream", 19), ("Vitamin C Serum", 29), ("Shampoo", 9), ("Conditioner", 9),
                    ("Body Lotion", 12), ("Lip Balm", 5), ("Sunscreen SPF 50", 15), ("Hand Cream", 7),
                    ("Eye Cream", 24), ("Cleansing Gel", 11)]
        ),
        Blueprint(
            name: "industrial", code: "IND", replenishment: 365...425, complements: ["home", "kitchen"],
            popularity: 0.06, variants: ("Standard", "Pro"),
            types: [("Water Filter Cartridge", 39), ("Lubricant Spray", 12), ("Air Filter", 24),
                    ("Descaler Tablets", 14), ("Cutting Disc Set", 19), ("Work Gloves", 9),
                    ("Safety Glasses", 15), ("Sealant Cartridge", 8), ("Machine Oil 1L", 17),
                    ("Cleaning Concentrate 5L", 29)]
        ),
        Blueprint(
            name: "apparel", code: "APP", replenishment: nil, complements: ["footwear", "cosmetics"],
            popularity: 0.18, variants: ("Essential", "Organic"),
            types: [("T-Shirt", 19), ("Hoodie", 49), ("Jeans", 59), ("Chinos", 49), ("Polo Shirt", 29),
                    ("Rain Jacket", 89), ("Wool Sweater", 69), ("Socks 3-Pack", 12), ("Leggings", 34),
                    ("Cap", 19)]
        ),
        Blueprint(
            name: "footwear", code: "FTW", replenishment: nil, complements: ["apparel", "fitness"],
            popularity: 0.10, variants: ("Classic", "Waterproof"),
            types: [("Running Shoes", 99), ("Sneakers", 79), ("Hiking Boots", 139), ("Sandals", 39),
                    ("Slippers", 25), ("Chelsea Boots", 119), ("Trail Runners", 109), ("Loafers", 89),
                    ("Insoles", 19), ("Shoe Care Kit", 15)]
        ),
        Blueprint(
            name: "kitchen", code: "KIT", replenishment: nil, complements: ["home", "industrial"],
            popularity: 0.12, variants: ("Everyday", "Professional"),
            types: [("Chef's Knife", 59), ("Cast Iron Pan", 49), ("Cutting Board", 25), ("French Press", 29),
                    ("Spice Grinder", 19), ("Mixing Bowl Set", 34), ("Non-Stick Pan", 39),
                    ("Coffee Grinder", 69), ("Knife Sharpener", 22), ("Storage Jar Set", 18)]
        ),
        Blueprint(
            name: "fitness", code: "FIT", replenishment: nil, complements: ["footwear", "apparel", "electronics"],
            popularity: 0.10, variants: ("Basic", "Pro"),
            types: [("Yoga Mat", 29), ("Resistance Bands", 19), ("Dumbbell Pair", 49), ("Kettlebell", 39),
                    ("Foam Roller", 24), ("Jump Rope", 12), ("Protein Shaker", 9), ("Gym Bag", 39),
                    ("Pull-Up Bar", 34), ("Fitness Tracker Strap", 15)]
        ),
        Blueprint(
            name: "electronics", code: "ELE", replenishment: nil, complements: ["home", "fitness"],
            popularity: 0.10, variants: ("Standard", "Plus"),
            types: [("Wireless Earbuds", 79), ("Bluetooth Speaker", 59), ("USB-C Charger", 25),
                    ("Power Bank", 39), ("Smart Plug", 19), ("Laptop Sleeve 15\"", 22), ("Webcam", 69),
                    ("Mechanical Keyboard", 99), ("Wireless Mouse", 29), ("Noise-Cancelling Headphones", 199)]
        ),
        Blueprint(
            name: "home", code: "HOM", replenishment: nil, complements: ["kitchen", "electronics"],
            popularity: 0.12, variants: ("Nordic", "Classic"),
            types: [("Scented Candle", 15), ("Throw Blanket", 45), ("Bath Towel Set", 39), ("Table Lamp", 59),
                    ("Cushion Cover", 19), ("Bed Linen Set", 69), ("Plant Pot", 17), ("Wall Clock", 34),
                    ("Doormat", 24), ("Storage Basket", 22)]
        ),
    ]
}
