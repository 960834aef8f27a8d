import AdaNegCore
import Foundation
import Yams

extension JobSpec {
    /// The spec in the job format with every key spelled out (defaults included, paths
    /// absolute). Parsing it gives back an equal spec (apart from `specText`), so the
    /// coordinator can store a canonical form or derive a re-scoring job from it.
    public func canonicalYAML() -> String {
        var pairs: [(Node, Node)] = [
            (key("name"), str(name)),
        ]
        if let model { pairs.append((key("model"), str(model))) }
        if let dataRoot { pairs.append((key("data_root"), str(dataRoot))) }
        pairs.append((key("allow_outside_root"), bool(allowOutsideRoot)))
        pairs.append((key("id"), dataset(id, extra: [])))
        pairs.append((key("ood"), Node(ood.map { set in
            var head: [(Node, Node)] = [(key("name"), str(set.name))]
            if let group = set.group { head.append((key("group"), str(group.rawValue))) }
            return dataset(set.data, extra: head)
        })))
        var neg: [(Node, Node)] = [(key("count"), int(negatives.count))]
        if let lexicon = negatives.lexicon { neg.append((key("lexicon"), str(lexicon))) }
        if let text = negatives.textFeatures { neg.append((key("text_features"), str(text))) }
        switch negatives.permutation {
        case .seed(let s): neg.append((key("permutation"), Node(String(s))))
        case .file(let f): neg.append((key("permutation"), str(f)))
        case .given(let indices): neg.append((key("permutation"), Node(indices.map { int($0) })))
        case .none: neg.append((key("permutation"), Node("none")))
        }
        pairs.append((key("negatives"), Node(neg)))
        pairs.append((key("scoring"), Node(scoring.values.map { parameter, value in
            let node: Node = switch value {
            case .integer(let n): int(n)
            case .number(let d): num(d)
            case .choice(let c): Node(c)
            }
            return (key(parameter.key), node)
        })))
        var pre: [(Node, Node)] = []
        if let r = preprocessing.resize { pre.append((key("resize"), int(r))) }
        if let c = preprocessing.crop { pre.append((key("crop"), int(c))) }
        if !pre.isEmpty { pairs.append((key("preprocessing"), Node(pre))) }
        pairs.append((key("seed"), Node(String(seed))))
        pairs.append((key("unit_batches"), int(unitBatches)))
        pairs.append((key("sync_every"), int(syncEvery)))
        pairs.append((key("keep_features"), bool(keepFeatures)))
        if let precision { pairs.append((key("precision"), Node(precision.rawValue))) }
        if let maxPixels { pairs.append((key("max_pixels"), int(maxPixels))) }
        return (try? Yams.serialize(node: Node(pairs), allowUnicode: true, sortKeys: false)) ?? ""
    }

    private func dataset(_ d: DatasetSpec, extra: [(Node, Node)]) -> Node {
        var pairs = extra
        if let classes = d.classes { pairs.append((key("classes"), str(classes))) }
        if let n = d.numClasses { pairs.append((key("num_classes"), int(n))) }
        switch d.images {
        case .list(let p)?: pairs.append((key("images"), str(p)))
        case .folders(let p)?: pairs.append((key("images"), Node([(key("folders"), str(p))])))
        case nil: break
        }
        if let f = d.features { pairs.append((key("features"), str(f))) }
        if let l = d.labels { pairs.append((key("labels"), str(l))) }
        return Node(pairs)
    }

    private func key(_ k: String) -> Node { Node(k) }
    private func int(_ v: Int) -> Node { Node(String(v)) }
    private func bool(_ v: Bool) -> Node { Node(v ? "true" : "false") }
    private func num(_ v: Double) -> Node {
        if v.isNaN { return Node(".nan") }
        if v.isInfinite { return Node(v > 0 ? ".inf" : "-.inf") }
        return Node(String(v))
    }
    /// A string that reads back as the same string (quoted when it would look like a number,
    /// a boolean or null).
    private func str(_ v: String) -> Node {
        if case .string = ScalarValue(Node.Scalar(v)), !v.contains(": "), !v.hasPrefix(" "), !v.hasSuffix(" ") {
            return Node(v)
        }
        return Node(v, .implicit, .doubleQuoted)
    }
}

// MARK: - Planner helpers

/// The images of one set as the planner stores them.
public struct ImageSamples: Sendable, Equatable {
    /// The folder the references resolve against (`data_root` for lists, the class-folder root
    /// for folders); pass it to `ImageList.resolve`. Nil for a list in a job without `data_root`
    /// (its references must all be URLs).
    public var root: String?
    /// ID entries carry their class index; OOD entries are all −1.
    public var entries: [ImageListEntry]
}

extension JobSpec {
    /// Reads the images of a set: the ID set (`isID`) or an OOD set. Nil for a features set.
    /// OOD labels are forced to −1 whatever the list says.
    public func imageSamples(of set: DatasetSpec, isID: Bool) throws(JobSpecError) -> ImageSamples? {
        switch set.images {
        case nil:
            return nil
        case .list(let list)?:
            var entries = try ImageList.read(path: list, defaultLabel: isID ? nil : -1)
            if !isID { for i in entries.indices { entries[i].label = -1 } }
            return ImageSamples(root: dataRoot, entries: entries)
        case .folders(let dir)?:
            var entries = try ImageFolders.read(root: dir).entries
            if !isID { for i in entries.indices { entries[i].label = -1 } }
            return ImageSamples(root: dir, entries: entries)
        }
    }

    /// The ID class names: the `classes` file, else the class-folder names; nil when neither
    /// is given (a job whose text features are precomputed).
    public func classNames() throws(JobSpecError) -> [String]? {
        if let classes = id.classes { return try ClassNamesFile.read(classes).names }
        if case .folders(let dir)? = id.images { return try ImageFolders.read(root: dir).classes }
        return nil
    }
}
