import CLIP
import Foundation
import JobPlan

/// The planner's view of a CLIP model folder, read by the code the workers load the model
/// with: the configuration (`CLIPConfig`), the checksum (`ModelChecksum`) and the checkpoint's
/// files. `serve`, `run` and `rescore` hand it to their coordinator, which links no CLIP itself.
public struct CLIPModelFacts: ModelFacts {
    public init() {}

    public func describe(folder: String) throws -> ModelDescription {
        let config = try CLIPConfig.load(path: URL(fileURLWithPath: folder).appendingPathComponent(CLIPModel.configFile).path)
        let checksum = try ModelChecksum.of(directory: folder)
        return ModelDescription(imageSize: config.vision.imageSize, dimension: config.projectionDim, checksum: checksum,
                                files: try CLIPModel.checkpointFiles(in: folder))
    }
}
