// The fuzz builds compile package sources into one Swift module, without the C shim CPlatform:
// these stand in for its cpuid functions (a CPU with no features), which no fuzzed input reaches.
func adaneg_cpuid(_ leaf: UInt32, _ subleaf: UInt32, _ regs: UnsafeMutablePointer<UInt32>?) -> Int32 { 0 }
func adaneg_xgetbv0() -> UInt64 { 0 }
func adaneg_request_amx() -> Int32 { 0 }
