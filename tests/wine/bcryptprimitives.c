/* A test shim for Wine only, never shipped: Rust's standard library (since 1.78) takes
 * its random bytes from ProcessPrng in bcryptprimitives.dll, which Wine 8 lacks, so
 * every Rust program fails to load there. This DLL exports ProcessPrng and answers it
 * with RtlGenRandom (SystemFunction036 in advapi32), which Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
