using System.Runtime.InteropServices;

namespace PruneFuse.Silo;

/// <summary>Ends the process at once with one line on stderr.</summary>
internal static class ProcessExit
{
    /// <summary>
    /// Writes <c>prunefuse-silo: {message}</c> and exits with <paramref name="code"/> without running shutdown
    /// handlers: after a failed start, Orleans' threads and the host's exit handler could otherwise keep the
    /// process up (Environment.Exit waits for them).
    /// </summary>
    public static void Now(int code, string message)
    {
        Console.Error.WriteLine($"prunefuse-silo: {message}");
        Console.Error.Flush();
        Console.Out.Flush();
        Exit(code);
    }

#pragma warning disable SYSLIB1054 // one blittable call; LibraryImport would need unsafe code in this project
    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void Exit(int status);
#pragma warning restore SYSLIB1054
}
