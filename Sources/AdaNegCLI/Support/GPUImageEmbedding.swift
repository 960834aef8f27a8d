import CLIP
import CUDABackend
import Foundation
import Platform
import Worker

/// `embed-images --device cuda`: the vision tower on the GPU, fed by `GPUImageBatches` (decode
/// and preprocess on every core while the GPU runs the previous batch). The output, its rows and
/// `--skip-bad` behave as on the CPU; the values are bf16 (or fp16) products, cosine ≥ 0.999 to
/// the CPU's fp32 ones.
struct GPUImageEmbedding {
    let command: EmbedImagesCommand
    let items: [EmbedImagesCommand.Item]
    /// A `CUDADevice`; tests pass `HostDevice`, the CPU double.
    let device: any DeviceLayer
    /// `--out`, checked before the model was loaded.
    let output: OutputTarget

    func run() throws {
        let folder = try ModelArgument.folder(command.model)
        let clip: CLIPModel
        do { clip = try CLIPModel(directory: folder, towers: .vision, precision: .fp32) } catch { throw CommandFailure("\(error)") }
        let size = clip.config.vision.imageSize
        if let crop = command.crop, crop != size {
            throw CommandFailure("--crop \(crop) does not match the model's image size \(size) (\(folder)/config.json)")
        }
        guard let vision = clip.vision else { throw CommandFailure("\(folder) has no vision tower") }
        let pre = clip.preprocessor(resize: command.resize, crop: command.crop)
        let tower: GPUVisionTower
        do { tower = try GPUVisionTower(device: device, vision: vision, preprocessor: pre, batchSize: command.batchSize) } catch {
            throw CommandFailure("--device \(command.deviceOptions.device): \(error)")
        }
        tower.log = { StandardError.write("note: \($0)\n") }
        let name = (device as? CUDADevice)?.properties.name ?? "the device double"
        StandardError.write("note: embedding on \(name) in \(device.lowPrecision.rawValue), batch \(tower.batch.size)\n")
        let items = self.items, maxPixels = command.maxPixels
        let result: (features: [Float], failures: [Int: String])
        do {
            result = try GPUImageBatches.embed(tower: tower, preprocessor: pre, count: items.count) { i in
                try EmbedImagesCommand.decode(items[i].reference, maxPixels: maxPixels)
            }
        } catch {
            throw CommandFailure("--device \(command.deviceOptions.device): \(error)")
        }
        var features = result.features
        let dim = tower.projectionDim
        var bad: [(EmbedImagesCommand.Item, String)] = []
        for (i, message) in result.failures.sorted(by: { $0.key < $1.key }) {
            if !command.skipBad { throw CommandFailure("\(command.images):\(items[i].line): \(message)") }
            bad.append((items[i], message))
            for j in 0..<dim { features[i * dim + j] = 0 }
        }
        try command.finish(features: features, dim: dim, items: items, bad: bad, output: output)
    }
}
