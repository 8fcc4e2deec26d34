import ArgumentParser
import Bale
import BaleCore
import Foundation

/// `bale login`: save a registry login in the Docker config file, as `docker login` does.
struct LoginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in to a registry (Docker Hub when no server is given).",
        discussion: """
            The login goes where docker keeps it, so either tool uses it: $DOCKER_CONFIG/config.json, else \
            ~/.docker/config.json, under "auths" (base64 of user:password, file mode 0600, replaced \
            atomically, every other key kept as it was), or through the credential helper the file names \
            for the server (credHelpers, else credsStore: the program docker-credential-NAME on PATH). \
            The registry is asked first whether it accepts the login, as docker does; a refused login \
            is not saved.

            SERVER is host[:port] (a URL's scheme and path are dropped); docker.io, index.docker.io and \
            no SERVER mean Docker Hub (key https://index.docker.io/v1/).

            Without --username or --password on a terminal, bale asks for them (the password is not \
            echoed; the user name shows the stored one as its default). --password-stdin reads the \
            password from stdin (its trailing newline dropped) and needs --username.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryFlags

    @Option(name: .shortAndLong, help: ArgumentHelp("The user name.", valueName: "username"))
    var username: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("The password (visible to other users of this machine: prefer --password-stdin).", valueName: "password"))
    var password: String?

    @Flag(name: .long, help: "Read the password from stdin.")
    var passwordStdin = false

    @Argument(help: ArgumentHelp("The registry (default: Docker Hub).", valueName: "server"))
    var server: String?

    func validate() throws {
        if password != nil && passwordStdin {
            throw ValidationError("--password and --password-stdin are mutually exclusive")
        }
        if passwordStdin && (username ?? "").isEmpty {
            throw ValidationError("Must provide --username with --password-stdin")
        }
    }

    func run() throws {
        let config = DockerConfig()
        if password != nil {
            printError("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
        }
        var user = username ?? ""
        var secret = password ?? ""
        if passwordStdin {
            let input = FileHandle.standardInput.readDataToEndOfFile()
            secret = String(decoding: input, as: UTF8.self)
            if secret.hasSuffix("\n") { secret.removeLast() }
            if secret.hasSuffix("\r") { secret.removeLast() }
        }
        if !passwordStdin && (user.isEmpty || secret.isEmpty) {
            guard isatty(0) == 1 else {
                throw BaleError(.usage, "Cannot perform an interactive login from a non TTY device")
            }
            if user.isEmpty {
                let stored = config.storedUsername(for: server ?? DockerConfig.dockerHubKey)
                Output.writeError(stored.map { "Username (\(DisplayText.escaped($0))): " } ?? "Username: ")
                user = (readLine() ?? "").trimmingCharacters(in: .whitespaces)
                if user.isEmpty, let stored { user = stored }
            }
            if secret.isEmpty {
                Output.writeError("Password: ")
                secret = Self.readWithoutEcho()
                Output.writeError("\n")
            }
        }
        let outcome = try Login.login(server: server, credential: RegistryCredential(username: user, password: secret),
                                      config: config, options: registry.registryOptions(), check: RegistryClient.checkLogin)
        outcome.warnings.forEach { printError("\($0)") }
        try write(.lines(outcome.lines))
    }

    /// One line from the terminal on stdin, with echo off while it is typed.
    static func readWithoutEcho() -> String {
        var saved = termios()
        let canRestore = tcgetattr(0, &saved) == 0
        if canRestore {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(0, TCSANOW, &quiet)
        }
        defer { if canRestore { _ = tcsetattr(0, TCSANOW, &saved) } }
        return readLine() ?? ""
    }
}

/// `bale logout`: remove a registry login from the Docker config file, as `docker logout` does.
struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Log out from a registry (Docker Hub when no server is given).",
        discussion: """
            Removes the login for SERVER from $DOCKER_CONFIG/config.json (else ~/.docker/config.json), \
            and from the credential helper that keeps it, as docker logout does; every other key of the \
            file is kept. Prints "Removing login credentials for SERVER", or "Not logged in to SERVER" \
            (exit status 0) when the file holds no login for it.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The registry (default: Docker Hub).", valueName: "server"))
    var server: String?

    func run() throws {
        try write(.lines([Login.logout(server: server, config: DockerConfig())]))
    }
}
