import Foundation

/// The folder adaneg keeps its caches under: `ADANEG_CACHE_DIR`, else `$XDG_CACHE_HOME/adaneg`,
/// else `~/.cache/adaneg`. Each cache is a subfolder (`weights/`, `artefacts/`), so one
/// variable moves them all.
public enum CacheFolder {
    public static func base(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["ADANEG_CACHE_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return URL(fileURLWithPath: xdg).appendingPathComponent("adaneg") }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/adaneg")
    }
}
