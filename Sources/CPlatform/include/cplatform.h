#ifndef ADANEG_CPLATFORM_H
#define ADANEG_CPLATFORM_H
#include <stdint.h>

/// Executes `cpuid` for (leaf, subleaf); writes eax, ebx, ecx, edx into regs[0..3].
/// Returns 0 where the leaf is beyond the processor's maximum (or not on x86), 1 otherwise.
int adaneg_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);

/// The extended control register XCR0 (which register states the OS saves), 0 without OSXSAVE.
uint64_t adaneg_xgetbv0(void);

/// Asks Linux for permission to use AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM).
/// Returns 1 when granted (or already granted), 0 otherwise.
int adaneg_request_amx(void);

#endif
