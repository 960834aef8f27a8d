import JobProtocol

/// The HTTP client is the worker's `CoordinatorAPI`; its errors say when a lease was lost
/// (409: the lease expired and the unit is another worker's now).
extension CoordinatorClient: CoordinatorAPI {
    public func retrying(within seconds: Double) -> CoordinatorClient {
        var copy = self
        copy.retryWindow = seconds
        copy.onRetry = nil
        return copy
    }
}

extension ClientError: CoordinatorAPIError {
    public var leaseLost: Bool { status == 409 }
}
