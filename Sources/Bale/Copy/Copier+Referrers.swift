import BaleCore
import Foundation

/// Referrers riding along: after the images are planned, every manifest and index they reach asks the
/// source what refers to it (`ImageSource.referrers(of:)`, the one place they are found), and each
/// referrer's graph is planned like an image's, its documents after its subject's, so a registry gets
/// the subject first. Referrers of referrers come too (a signature of an SBOM).
///
/// Digests never change under a referrer: one whose subject would be converted for the destination
/// (Docker → OCI types for a layout) would name a digest that is not there, and a signature of the
/// old digest proves nothing about the new one. So such a copy is refused before anything is written,
/// naming the referrers and `--no-referrers`, which copies the image without them. A destination that
/// cannot hold referrers at all leaves them out with a warning; the copy goes on.
extension Copier {
    /// A referrer to write, with the position of the image (in `Plan.roots`) it was found under.
    struct PlannedReferrer {
        var referrer: Referrer
        var image: Int
    }

    /// Plans the referrers of `plan`'s images; returns the warnings for those left out.
    func planReferrers(_ source: any ImageSource, _ destination: any ImageDestination,
                       plan: inout Plan) throws -> [String] {
        let documents = Dictionary(plan.documents.map { ($0.descriptor.digest, $0.bytes) }) { first, _ in first }
        let original = Dictionary(plan.converted.map { ($0.value, $0.key) }) { first, _ in first }
        var asked = Set<Digest>()
        var converted: [String] = []
        var unheld: [Digest] = []
        for (position, root) in plan.roots.enumerated() {
            var queue: [Digest] = []
            try ImageGraph.walk([root.descriptor], read: { documents[$0.digest] }) { descriptor, node in
                if case .leaf = node { return false }
                queue.append(descriptor.digest)
                return true
            }
            var next = 0
            while next < queue.count {
                let written = queue[next]
                next += 1
                let subject = original[written] ?? written
                guard asked.insert(subject).inserted else { continue }
                let found = try source.referrers(of: subject)
                guard !found.isEmpty else { continue }
                if original[written] != nil {
                    converted += found.map { "\($0.descriptor.digest) (its subject \(subject) is written as \(written))" }
                    continue
                }
                guard destination.holdsReferrers else {
                    unheld += found.map(\.descriptor.digest)
                    continue
                }
                for referrer in found {
                    try planGraph(of: referrer, source: source, plan: &plan)
                    plan.referrers.append(PlannedReferrer(referrer: referrer, image: position))
                    queue.append(referrer.descriptor.digest)
                }
            }
        }
        if !converted.isEmpty {
            throw BaleError(.unsupported, "\(destination.name): writing here converts the image to OCI types, which changes its digest and would break what refers to it: \(converted.joined(separator: ", ")); copy to a location that keeps Docker types, or leave the referrers out with --no-referrers")
        }
        var warnings: [String] = []
        if !unheld.isEmpty {
            warnings.append("\(destination.name) cannot hold referrers; left out: \(unheld.map(\.description).joined(separator: ", "))")
        }
        return warnings
    }

    /// Adds one referrer's documents (children first) and blobs to the plan, bytes unchanged. Its
    /// layers and config may be of any type (a signature, an SBOM, an empty config): they are blobs.
    private func planGraph(of referrer: Referrer, source: any ImageSource, plan: inout Plan) throws {
        var read: [Digest: Data] = [:]
        var documents: [Document] = []
        try ImageGraph.walk([referrer.descriptor], read: { d in
            guard d.digest == referrer.descriptor.digest || d.mediaType.isManifest || d.mediaType.isIndex else { return nil }
            let bytes = try read[d.digest] ?? source.document(d)
            read[d.digest] = bytes
            return bytes
        }) { descriptor, node in
            if case .leaf = node {
                if plan.seen.insert(descriptor.digest).inserted { plan.blobs.append(descriptor) }
                return false
            }
            guard let bytes = read[descriptor.digest] else { return false }
            documents.append(Document(descriptor: descriptor, bytes: bytes))
            return true
        }
        for document in documents.reversed() { addDocument(document, to: &plan) }
    }
}
