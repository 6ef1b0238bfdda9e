/* Prints the architecture it was compiled for (from the compiler's own
 * macros) and the one it runs on (uname(2), which QEMU answers for the
 * emulated machine), so a cross-compiled image shows both. */
#include <stdio.h>
#include <sys/utsname.h>

#ifndef TARGET_PLATFORM
#define TARGET_PLATFORM "unknown"
#endif

#if defined(__x86_64__)
#define BUILT_FOR "x86_64"
#elif defined(__aarch64__)
#define BUILT_FOR "aarch64"
#elif defined(__arm__) && defined(__ARM_ARCH)
#define STR2(x) #x
#define STR(x) STR2(x)
#define BUILT_FOR "armv" STR(__ARM_ARCH)
#elif defined(__riscv) && __riscv_xlen == 64
#define BUILT_FOR "riscv64"
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define BUILT_FOR "ppc64le"
#elif defined(__s390x__)
#define BUILT_FOR "s390x"
#elif defined(__i386__)
#define BUILT_FOR "i386"
#else
#define BUILT_FOR "an unknown architecture"
#endif

int main(void) {
    struct utsname u;
    if (uname(&u) != 0) {
        perror("uname");
        return 1;
    }
    printf("hello from c-hello: built for %s (%s), running on %s\n", BUILT_FOR,
           TARGET_PLATFORM, u.machine);
    return 0;
}
