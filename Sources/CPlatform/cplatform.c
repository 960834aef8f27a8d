#include "cplatform.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

int adaneg_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
    unsigned int a = 0, b = 0, c = 0, d = 0;
    unsigned int max = __get_cpuid_max(leaf & 0x80000000u, 0);
    if (max == 0 || leaf > max) { regs[0] = regs[1] = regs[2] = regs[3] = 0; return 0; }
    __cpuid_count(leaf, subleaf, a, b, c, d);
    regs[0] = a; regs[1] = b; regs[2] = c; regs[3] = d;
    return 1;
}

uint64_t adaneg_xgetbv0(void) {
    uint32_t r[4];
    if (!adaneg_cpuid(1, 0, r) || !(r[2] & (1u << 27))) return 0; /* OSXSAVE */
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int adaneg_request_amx(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    /* ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 */
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0 ? 1 : 0;
#else
    return 0;
#endif
}
#else
int adaneg_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
    (void)leaf; (void)subleaf; regs[0] = regs[1] = regs[2] = regs[3] = 0; return 0;
}
uint64_t adaneg_xgetbv0(void) { return 0; }
int adaneg_request_amx(void) { return 0; }
#endif
