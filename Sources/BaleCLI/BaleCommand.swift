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

            Exit status: 0 success, 1 failure (also output that cannot be written; a reader of stdout \
            that left ends bale quietly), 2 usage error (an empty --root or BALE_ROOT too), 3 \
            integrity failure (content that does not match its digest).

            Names and messages from input are printed with control characters escaped (\\n, \\x1b). \
            Digests are sha256; sha512 is refused as not supported.
            """,
        version: "0.1.0",
        groupedSubcommands: [
            CommandGroup(name: "Images in the store", subcommands: [
                Images.self, Inspect.self, History.self, Tag.self, Rmi.self,
            ]),
            CommandGroup(name: "Moving images", subcommands: [Save.self, Load.self, CopyCommand.self, SyncCommand.self, Serve.self]),
            CommandGroup(name: "Registries", subcommands: [Pull.self, Push.self, SearchCommand.self, LoginCommand.self, LogoutCommand.self]),
            CommandGroup(name: "Root file systems", subcommands: [Import.self, Export.self, Commit.self, Diff.self]),
            CommandGroup(name: "Store upkeep", subcommands: [Verify.self, Prune.self]),
        ]
    )

    public init() {}

    /// Runs bale with the process arguments and exits with bale's status codes.
    public static func main() -> Never {
        // A reader that leaves (`bale images | head -1`) then shows as EPIPE, which ends the command
        // quietly, instead of killing bale with SIGPIPE in the middle of a commit.
        signal(SIGPIPE, SIG_IGN)
        // A closed stdin, stdout or stderr (`exec 1>&-`) would be reused by the next open: a blob
        // written through it would receive bale's output. /dev/null opened the wrong way round holds
        // the number, and a write to it (or a read) then fails with EBADF, reported as any write error.
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) < 0 {
            _ = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY)
        }
        // Swift reads each argument as UTF-8 and puts U+FFFD where the bytes are not: a path with such
        // bytes (a file named in Latin-1) would become another path, and an existing file would be
        // reported missing. Such an argument is refused as what it is.
        for i in 1 ..< Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[i], String(validatingCString: raw) == nil else { continue }
            printError("Error: argument \(i) (\(CommandLine.arguments[i].debugDescription)) is not UTF-8: bale takes paths and names in UTF-8 only")
            Foundation.exit(2)
        }
        Foundation.exit(run(Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses and runs one command line; returns the exit status (used by `main` and by tests).
    public static func run(_ arguments: [String]) -> Int32 {
        let status = runCommand(arguments)
        // stderr that could not be written (`2>/dev/full`) lost a message: no success then.
        return status == 0 && Output.stderrFailed.isSet ? 1 : status
    }

    private static func runCommand(_ arguments: [String]) -> Int32 {
        let arguments = GlobalOptions.movingGlobals(GlobalOptions.dockerBooleans(arguments))
        if let name = arguments.first, !name.hasPrefix("-"), !commandNames.contains(name) {
            // As docker says it; argument-parser would blame the next argument (`Unknown option '--root'`).
            printError("bale: '\(name)' is not a bale command.")
            printError("See 'bale --help'.")
            return 2
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let error as BaleError {
            // A reader that left gets no message; its status is still decided below.
            if error.isOutputClosed { return exitStatus(for: .outputClosed) }
            printError("Error: \(error)")
            return exitStatus(for: error.code)
        } catch let error as ImagesNotCopied {
            // The other images were copied: one line for each image left out.
            error.failures.forEach { printError("Error: \($0)") }
            return exitStatus(for: error.failures[0].code)
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                // Help and version: bale's own text.
                do { try write(TerminalText(escaped: message + "\n")) } catch { return 1 }
                return 0
            }
            // argument-parser's own lines, each escaped (they quote the arguments).
            message.split(separator: "\n", omittingEmptySubsequences: false).forEach { printError("\($0)") }
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

    /// 2 for usage, 3 for integrity, 1 for everything else (`outputClosed` included).
    static func exitStatus(for code: BaleError.Code) -> Int32 {
        switch code {
        case .usage: return 2
        case .integrity: return 3
        default: return 1
        }
    }
}
