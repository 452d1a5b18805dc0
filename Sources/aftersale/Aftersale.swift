import ArgumentParser

@main
struct Aftersale: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aftersale",
        abstract: "An event-sourced customer lifecycle engine for online shops.",
        usage: "aftersale [--db <PATH>] [--config <FILE>] <subcommand>",
        discussion: """
            Every post-purchase touchpoint is an immutable event in one SQLite file; projections and \
            next-best-action commands are derived from it. The database is --db, else $AFTERSALE_DB, \
            else ./aftersale.db.

            Global options: --db, and --config for the commands that take it (see each command's \
            help), may come before the subcommand as well as after it: aftersale --db shop.db ingest \
            orders.ndjson. Given in both places, the one after the subcommand wins. A command that \
            does not take one refuses it in either place.
            """,
        // Each subcommand gives its name in its configuration: a name left to be derived from the
        // type's name has the runtime search the executable's conformances at every start.
        subcommands: [Demo.self, Ingest.self, Log.self, Fit.self, Customer.self, Rebuild.self, Actions.self, Dispatch.self, Redeliver.self, Destinations.self, Replay.self, Export.self, Report.self, Simulate.self, Serve.self, Rejects.self, Forget.self]
    )

    /// Runs the command line, global options written before the subcommand handed to it.
    static func main() {
        guard let arguments = GlobalOptions.movedAfterSubcommand(Array(CommandLine.arguments.dropFirst())) else {
            exit(withError: ValidationError("global options go with a subcommand: aftersale --db PATH <subcommand> ..."))
        }
        main(arguments)
    }
}

/// The options a user may write before the subcommand, as with `git -C` or `kubectl --context`.
///
/// Each command declares the ones it takes, with their help. Written before the subcommand, they
/// are moved to just after its name, so the command parses them as its own: one written after the
/// subcommand comes later and wins, and a command that does not take one refuses it as an unknown
/// option. (Declared on the root instead, they would be taken from anywhere on the line, and the
/// commands would never see their own.)
enum GlobalOptions {
    /// Each takes a value, as `--db PATH` or `--db=PATH`.
    static let names: Set<String> = ["--db", "--config"]

    /// The arguments (without the executable's name) with the global options in front of the
    /// subcommand moved to just after it; unchanged when an option such as `--help` follows them
    /// instead; nil when nothing does.
    static func movedAfterSubcommand(_ arguments: [String]) -> [String]? {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if names.contains(first), rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if let equals = first.firstIndex(of: "="), names.contains(String(first[..<equals])) {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        guard let subcommand = rest.first else { return nil }
        guard !subcommand.hasPrefix("-") else { return arguments }
        return [subcommand] + leading + rest.dropFirst()
    }
}
