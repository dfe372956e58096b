using System.Runtime.InteropServices;

namespace PruneFuse.Learning.Runtime;

/// <summary>
/// Makes glibc hand out zero-filled heap blocks (mallopt M_PERTURB) before libtorch allocates anything.
/// Measured on an AMD EPYC (Zen 4) host with libtorch 2.10: the first backward pass of a fresh ResNet read freshly
/// allocated, never-written memory, so gradients from the stem up to a random depth came out NaN in roughly one run
/// in five (and the experiment failed with "training diverged"), whatever CPU features oneDNN, ATen and MKL were
/// limited to. With new blocks zero-filled (or filled with any finite pattern) it did not happen in 30 runs.
/// Large blocks come from mmap and are zero already, so the cost is one memset of each small allocation.
/// Set PRUNEFUSE_ZERO_FILL_ALLOCATIONS=0 to turn it off (to measure its cost, or to reproduce the fault).
/// </summary>
internal static class AllocatorGuard
{
    // glibc's M_PERTURB: new blocks are filled with the complement of the byte (0xFF → zeros), freed ones with it.
    private const int PerturbOption = -6;
    private const int ZeroFillByte = 0xFF;

    /// <summary>True when new heap blocks are zero-filled in this process.</summary>
    public static bool Active { get; private set; }

    public static void Apply()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("PRUNEFUSE_ZERO_FILL_ALLOCATIONS") == "0") return;
        try
        {
            Active = SetOption(PerturbOption, ZeroFillByte) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl, say): nothing to set; that allocator was not where the fault was measured.
        }
    }

#pragma warning disable SYSLIB1054 // one blittable call; LibraryImport would need unsafe code in this project
    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int SetOption(int option, int value);
#pragma warning restore SYSLIB1054
}
