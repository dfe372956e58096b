using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Runtime;

/// <summary>
/// Checks once per process that libtorch's oneDNN convolutions compute correct float32 results. Measured on an AMD
/// EPYC (Zen 4) host with libtorch 2.10: the forward pass of every convolution whose input channel count is above 16
/// and not a multiple of 16 (widths pruning produces, e.g. 19 at p = 0.7), and the input gradient of every one whose
/// output channel count is not a multiple of 16, were wrong (up to 0.5 relative, or NaN) and not even deterministic,
/// whatever ISA oneDNN was limited to; Debian's PyTorch 1.13 was right on the same host. Turning oneDNN off fixes it
/// but made scoring 18× slower, so the check first tries zero-padding those channel counts to a multiple of 16
/// (<see cref="Models.Convolution"/>) and turns oneDNN off only if that is still wrong.
/// PRUNEFUSE_ONEDNN=on (no workaround), pad or off overrides the check.
/// </summary>
internal static class OneDnnCheck
{
    /// <summary>What this process does about the fault, or null when the kernels are right.</summary>
    public static string? Workaround { get; private set; }

    /// <summary>True when convolutions pad their channel counts to multiples of 16.</summary>
    public static bool PadChannels { get; private set; }

    public static void Apply()
    {
        var setting = Environment.GetEnvironmentVariable("PRUNEFUSE_ONEDNN")?.Trim().ToLowerInvariant();
        if (setting == "on") return;
        if (setting == "off")
        {
            Disable("oneDNN off (PRUNEFUSE_ONEDNN=off)");
            return;
        }
        if (setting == "pad")
        {
            PadChannels = true;
            Workaround = "convolution channels padded to multiples of 16 (PRUNEFUSE_ONEDNN=pad)";
            return;
        }
        // Dense and depthwise (MobileNetV2) convolutions run different oneDNN kernels: both are checked.
        var error = ConvolutionError(19, padded: false);
        var depthwise = DepthwiseError(padded: false);
        if (error <= Tolerance && depthwise <= Tolerance) return;
        var what = error > Tolerance
            ? $"oneDNN's float32 convolution of 19 input channels is off by {error:G3} on this CPU"
            : $"oneDNN's float32 depthwise convolution is off by {depthwise:G3} on this CPU";
        PadChannels = true;
        var padded = Math.Max(ConvolutionError(19, padded: true), DepthwiseError(padded: true));
        if (padded <= Tolerance)
        {
            Workaround = $"{what}: channel counts padded to multiples of 16";
            return;
        }
        PadChannels = false;
        Disable($"{what}, padded by {padded:G3}: oneDNN off");
    }

    private const double Tolerance = 1e-3;

    /// <summary>Largest difference between a float32 convolution and the same one in float64.</summary>
    public static double ConvolutionError(int channels, bool padded)
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(7);
        var x = randn([8, channels, 16, 16], generator: generator);
        var w = randn([channels, channels, 3, 3], generator: generator) * 0.1;
        var y = (padded ? Models.Convolution.Apply(x, w, null, 1, 1) : nn.functional.conv2d(x, w, padding: [1, 1])).to_type(ScalarType.Float64);
        var reference = nn.functional.conv2d(x.to_type(ScalarType.Float64), w.to_type(ScalarType.Float64), padding: [1, 1]);
        return (y - reference).abs().max().item<double>();
    }

    /// <summary>Largest difference between float32 depthwise convolutions (19 and 144 channels, strides 1 and 2) and
    /// float64.</summary>
    public static double DepthwiseError(bool padded)
    {
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(11);
        var worst = 0.0;
        foreach (var channels in new long[] { 19, 144 })
        {
            var x = randn([8, channels, 16, 16], generator: generator);
            var w = randn([channels, 1, 3, 3], generator: generator) * 0.3;
            foreach (var stride in new long[] { 1, 2 })
            {
                var y = (padded
                    ? Models.Convolution.Apply(x, w, null, stride, 1, depthwise: true)
                    : nn.functional.conv2d(x, w, strides: [stride, stride], padding: [1, 1], groups: channels)).to_type(ScalarType.Float64);
                var reference = nn.functional.conv2d(x.to_type(ScalarType.Float64), w.to_type(ScalarType.Float64), strides: [stride, stride], padding: [1, 1], groups: channels);
                worst = Math.Max(worst, (y - reference).abs().max().item<double>());
            }
        }
        return worst;
    }

    private static void Disable(string reason)
    {
        try
        {
            SetUserEnabledMkldnn(GlobalContext(), false);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            throw new TorchUnavailableException($"{reason}, and this libtorch has no switch to turn oneDNN off ({e.Message}); results would be wrong", e);
        }
        Workaround = reason;
    }

    // at::globalContext() and at::Context::setUserEnabledMkldnn(bool), exported by libtorch_cpu (2.10).
#pragma warning disable SYSLIB1054 // blittable calls; LibraryImport would need unsafe code in this project
    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
#pragma warning restore SYSLIB1054
}
