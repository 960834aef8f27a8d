/// Why a mining run could not finish, worded for the user.
public struct MiningError: Error, CustomStringConvertible, Equatable {
    public var description: String

    public init(_ description: String) { self.description = description }
}
