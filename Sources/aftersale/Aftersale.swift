import ArgumentParser

@main
struct Aftersale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aftersale",
        abstract: "An event-sourced customer lifecycle engine for online shops.",
        discussion: """
            Every post-purchase touchpoint is an immutable event in one SQLite file; projections and \
            next-best-action commands are derived from it. The database is --db, else $AFTERSALE_DB, \
            else ./aftersale.db.
            """,
        subcommands: [Demo.self, Ingest.self, Log.self, Fit.self, Customer.self, Rebuild.self, Actions.self, Dispatch.self, Replay.self, Export.self, Report.self, Simulate.self]
    )
}
