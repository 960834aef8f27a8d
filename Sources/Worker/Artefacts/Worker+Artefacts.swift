import Foundation
import JobClient
import JobPlan
import JobProtocol
import Platform

/// A plan's files on this machine: each path the plan names is used where it holds the
/// recorded content, and replaced by the coordinator's copy (fetched once into the
/// `ArtefactCache`) where it is missing or different.
extension Worker {
    /// The plan with its text features and permutation file on this machine.
    func localized(_ plan: WorkPlan) async throws -> WorkPlan {
        var plan = plan
        if artefacts == nil {
            // `--artefact-cache off`: the plan's own paths are read, checked against the
            // digests recorded at submission (hashed once per process, off the actor).
            let planned = plan
            do {
                try await BlockingIO.run { () throws(InputFileError) in try planned.verifyScorerInputs() }
            } catch {
                throw WorkerError.input("\(error)")
            }
        }
        plan.textFeatures = try await localFile(plan.textFeatures, role: "negatives.text_features", plan: plan)
        if case let .file(path) = plan.permutation {
            plan.permutation = .file(try await localFile(path, role: "negatives.permutation", plan: plan))
        }
        return plan
    }

    private func localFile(_ path: String, role: String, plan: WorkPlan) async throws -> String {
        guard let artefacts, let digest = plan.artefacts?[path] else { return path }
        do {
            let (local, source) = try await artefacts.file(path, digest: digest)
            logFetch(path, digest: digest, source: source)
            return local
        } catch {
            throw Self.fetchFailure(error, role: role, path: path)
        }
    }

    /// What a failed fetch means for the unit. The cache's own disk failing is this machine's
    /// fault (`storage`: released, the worker stops). The coordinator no longer serving the file
    /// as recorded (404, or 409 when it changed since submission), or serving other bytes, is
    /// the job's: the unit fails with the reason, so it is parked after its attempts instead
    /// of going round the workers forever. Anything else (an unreachable coordinator) is
    /// handled as for any request.
    static func fetchFailure(_ error: any Error, role: String, path: String) -> any Error {
        switch error {
        case let failure as ArtefactError:
            switch failure {
            case .unreadable, .noSpace: return WorkerError.storage("\(role): the artefact cache: \(failure)")
            case .mismatch, .invalid: return WorkerError.input("\(role): \(failure)")
            }
        case let failure as ClientError where failure.status == 404 || failure.status == 409:
            return WorkerError.input("\(role): the coordinator cannot serve \(path) as the job recorded it: \(failure)")
        default:
            return error
        }
    }

    private func logFetch(_ path: String, digest: ArtefactDigest, source: ArtefactCache.Source) {
        guard case let .fetched(seconds) = source else { return }
        let mb = Double(digest.bytes) / 1e6
        let amount = mb < 1 ? "\(digest.bytes) bytes" : String(format: "%.1f MB in %.2f s (%.0f MB/s)", mb, seconds, mb / max(seconds, 1e-6))
        logger.info("\(path) is not on this machine as the job recorded it: fetched the coordinator's copy, \(amount)")
    }

    /// The model's files as the plan records them, by name in the folder (nil: the plan
    /// predates artefacts, or names none for this folder).
    func modelArtefacts(_ model: ModelSource, plan: WorkPlan) throws -> [(name: String, path: String, digest: ArtefactDigest)]? {
        let prefix = model.path.hasSuffix("/") ? model.path : model.path + "/"
        var out = [(name: String, path: String, digest: ArtefactDigest)]()
        for (path, digest) in plan.artefacts ?? [:] where path.hasPrefix(prefix) {
            let name = String(path.dropFirst(prefix.count))
            // Plans come over the network: a name that leaves the folder never becomes a link.
            guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
                throw WorkerError.plan("model file '\(path.prefix(200))' is not a file name inside \(model.path)")
            }
            out.append((name, path, digest))
        }
        return out.isEmpty ? nil : out.sorted { $0.name < $1.name }
    }

    /// A folder on this machine with the model the plan names: the planned folder when it is
    /// here, else the same model found by `resolveModelFolder` (a Hub snapshot), else the
    /// coordinator's copy of its files. `refetch` skips the planned folder (it was found to
    /// hold another model).
    func localModel(_ model: ModelSource, plan: WorkPlan, refetch: Bool = false) async throws -> ModelSource {
        var local = model
        let files = try modelArtefacts(model, plan: plan)
        var isFolder: ObjCBool = false
        let here = FileManager.default.fileExists(atPath: model.path, isDirectory: &isFolder) && isFolder.boolValue
        if here && !refetch { return model }
        if !here, let resolve = options.resolveModelFolder {
            do {
                if let found = try resolve(model.path) {
                    local.path = found
                    return local
                }
            } catch {
                guard files != nil, artefacts != nil else { throw WorkerError.input("model \(model.path): \(error)") }
                logger.warning("model \(model.path): \(error); using the coordinator's copy instead")
            }
        }
        guard let files, let artefacts else { return model }
        var resolved = [(name: String, path: String, digest: ArtefactDigest)]()
        for file in files {
            do {
                // A planned folder that is here was refused by its checksum: only cached or
                // fetched copies now; otherwise each file is verified as it is used.
                let (path, source) = try await artefacts.file(file.path, digest: file.digest, allowPlanned: !refetch)
                logFetch(file.path, digest: file.digest, source: source)
                resolved.append((file.name, path, file.digest))
            } catch {
                throw Self.fetchFailure(error, role: "model", path: file.path)
            }
        }
        do { local.path = try artefacts.modelFolder(files: resolved) } catch { throw Self.fetchFailure(error, role: "model", path: model.path) }
        logger.info("model \(model.path) \(refetch ? "holds another model here" : "is not on this machine"): loading the coordinator's copy from \(local.path)")
        return local
    }
}
