import ArgumentParser
import Bale
import BaleCore
import Foundation

/// The `bale` command: Docker's image commands on a daemonless local store.
public struct BaleCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bale",
        abstract: "Offline container image archives: docker's image commands without a daemon.",
        discussion: """
            bale keeps a local image store (an OCI image layout) at --root, $BALE_ROOT, \
            $XDG_DATA_HOME/bale or ~/.local/share/bale (/var/lib/bale as root). Global options \
            (--root, --jobs, --no-progress) go before or after the command name.

            Exit status: 0 success, 1 failure, 2 usage error, 3 integrity failure (content that does \
            not match its digest).
            """,
        version: "0.1.0",
        groupedSubcommands: [
            CommandGroup(name: "Images in the store", subcommands: [
                Images.self, Inspect.self, History.self, Tag.self, Rmi.self,
            ]),
            CommandGroup(name: "Moving images", subcommands: [Save.self, Load.self, CopyCommand.self]),
            CommandGroup(name: "Root file systems", subcommands: [Import.self, Export.self, Commit.self, Diff.self]),
            CommandGroup(name: "Store upkeep", subcommands: [Verify.self, Prune.self]),
        ]
    )

    public init() {}

    /// Runs bale with the process arguments and exits with bale's status codes.
    public static func main() -> Never {
        Foundation.exit(run(Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses and runs one command line; returns the exit status (used by `main` and by tests).
    public static func run(_ arguments: [String]) -> Int32 {
        let arguments = GlobalOptions.movingGlobals(GlobalOptions.dockerBooleans(arguments))
        if let name = arguments.first, !name.hasPrefix("-"), !commandNames.contains(name) {
            // As docker says it; argument-parser would blame the next argument (`Unknown option '--root'`).
            printError("bale: '\(name)' is not a bale command.\nSee 'bale --help'.")
            return 2
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let error as BaleError {
            printError("Error: " + error.description)
            return exitStatus(for: error.code)
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                write(message + "\n")
                return 0
            }
            printError(message)
            return code == .validationFailure ? 2 : code.rawValue
        }
    }

    /// Every command name and alias, and argument-parser's `help`.
    static var commandNames: Set<String> {
        var names: Set<String> = ["help"]
        for command in configuration.subcommands {
            names.insert(command._commandName)
            names.formUnion(command.configuration.aliases)
        }
        return names
    }

    /// 2 for usage, 3 for integrity, 1 for everything else.
    static func exitStatus(for code: BaleError.Code) -> Int32 {
        switch code {
        case .usage: return 2
        case .integrity: return 3
        default: return 1
        }
    }
}
