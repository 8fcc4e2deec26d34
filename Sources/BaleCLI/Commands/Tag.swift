import ArgumentParser
import Bale

/// `bale tag`: give an image another name.
struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.",
        discussion: """
            SOURCE_IMAGE is a name (the tag defaults to latest), NAME@DIGEST, a full image ID or a unique \
            prefix of one. A TARGET_IMAGE that named another image moves; that image stays as <none> if it \
            has no other name.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The image to tag.", valueName: "source-image"))
    var source: String

    @Argument(help: ArgumentHelp("The new name, NAME[:TAG].", valueName: "target-image"))
    var target: String

    func run() throws {
        try global.store().tag(source, as: target)
    }
}
