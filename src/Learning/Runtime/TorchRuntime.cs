using System.Runtime.InteropServices;
using TorchSharp;

namespace PruneFuse.Learning.Runtime;

/// <summary>
/// Loads libtorch once and picks the compute device. Replaces TorchSharp's misleading
/// "doesn't contain a reference to libtorch" message with the loader's actual reason.
/// </summary>
public static class TorchRuntime
{
    private static readonly Lazy<torch.Device> LazyDevice = new(Initialize, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The device torch work runs on: CUDA when available, otherwise CPU.</summary>
    public static torch.Device Device => LazyDevice.Value;

    /// <summary>How this process works around oneDNN convolutions that are wrong on this CPU, or null when they are right.</summary>
    public static string? OneDnnWorkaround => OneDnnCheck.Workaround;

    /// <summary>True when convolutions pad channel counts to multiples of 16 (see <see cref="Models.Convolution"/>).</summary>
    public static bool PadConvolutionChannels => OneDnnCheck.PadChannels;

    /// <summary>Ensures libtorch is loaded; throws <see cref="TorchUnavailableException"/> with the real cause otherwise.</summary>
    public static void EnsureLoaded() => _ = LazyDevice.Value;

    private static torch.Device Initialize()
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
            using var probe = torch.ones(1);
            OneDnnCheck.Apply();
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        }
        catch (Exception e) when (e is NotSupportedException or TypeInitializationException or DllNotFoundException)
        {
            throw new TorchUnavailableException(Diagnose(), e);
        }
    }

    private static string Diagnose()
    {
        var nativeDir = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier.StartsWith("linux-arm", StringComparison.Ordinal) ? "linux-arm64" : "linux-x64", "native");
        var lib = Path.Combine(nativeDir, "libLibTorchSharp.so");
        if (!File.Exists(lib))
        {
            return $"libtorch could not be loaded: {lib} does not exist. Build the project with `dotnet build` so the TorchSharp and libtorch-cpu-linux-x64 natives are copied to the output.";
        }
        string reason;
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(lib));
            reason = "the library itself loads; one of its libtorch dependencies does not";
        }
        catch (Exception e)
        {
            reason = e.Message;
        }
        return $"libtorch could not be loaded from {nativeDir}: {reason}. " +
               "On Debian 12 the build marks TorchSharp's GLIBCXX_3.4.32 need weak (build/TorchNative.targets); " +
               "if the reason names a missing GLIBCXX version, rebuild with `dotnet build` rather than copying an old output, or install a newer libstdc++.";
    }
}

/// <summary>libtorch's native libraries could not be loaded; the message says why.</summary>
public sealed class TorchUnavailableException(string message, Exception inner) : Exception(message, inner);
