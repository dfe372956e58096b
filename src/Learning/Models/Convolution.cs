using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Models;

/// <summary>
/// The one place networks run a 2-D convolution. Where the runtime found libtorch's oneDNN float32 convolutions wrong
/// (<see cref="TorchRuntime.PadConvolutionChannels"/>), it zero-pads exactly the channel counts the faulty kernels
/// get wrong, measured on every count from 1 to 48: the forward pass for more than 16 input channels that are not a
/// multiple of 16, and the input gradient for any output channel count that is not a multiple of 16 (the weight
/// gradient was always right). The output is narrowed back: the same function and gradients from kernels that are
/// right. Inference (no gradient) of the usual pruned widths (8, 16, 32) therefore pays nothing; training pays the
/// padded output channels' MACs.
/// </summary>
public static class Convolution
{
    private const int Block = 16;

    // Tests run the padded path on hosts whose kernels are right, to check it computes the same function.
    [ThreadStatic] private static bool t_forcePadding;

    private static bool Pad => TorchRuntime.PadConvolutionChannels || t_forcePadding;

    /// <summary>Pads channel counts on this thread until disposed, whatever the host's check found (for
    /// tests).</summary>
    internal static IDisposable ForcePadding()
    {
        t_forcePadding = true;
        return new Restore();
    }

    private sealed class Restore : IDisposable
    {
        public void Dispose() => t_forcePadding = false;
    }

    /// <summary>
    /// conv2d of <paramref name="input"/> with <paramref name="weight"/> [out, in, k, k] and optional bias; with
    /// <paramref name="depthwise"/>, one filter per channel (weight [C, 1, k, k], groups = C).
    /// </summary>
    public static Tensor Apply(Tensor input, Tensor weight, Tensor? bias, long stride, long padding, bool depthwise = false)
    {
        if (depthwise) return Depthwise(input, weight, bias, stride, padding);
        var cout = weight.shape[0];
        var cin = weight.shape[1];
        var addIn = Pad && cin > Block ? Padded(cin) - cin : 0;
        var needsInputGradient = input.requires_grad && is_grad_enabled();
        var addOut = Pad && needsInputGradient ? Padded(cout) - cout : 0;
        if (addIn == 0 && addOut == 0)
        {
            return nn.functional.conv2d(input, weight, bias, strides: [stride, stride], padding: [padding, padding]);
        }
        // pad lists pairs from the last dimension: (W), (H), (in), (out).
        var w = nn.functional.pad(weight, [0, 0, 0, 0, 0, addIn, 0, addOut]);
        var x = addIn > 0 ? nn.functional.pad(input, [0, 0, 0, 0, 0, addIn]) : input;
        var b = bias is not null && addOut > 0 ? nn.functional.pad(bias, [0, addOut]) : bias;
        var y = nn.functional.conv2d(x, w, b, strides: [stride, stride], padding: [padding, padding]);
        return addOut > 0 ? y.narrow(1, 0, cout) : y;
    }

    // A depthwise convolution's channels are independent, so on affected hosts both the input and the filters are
    // padded with zero channels to a multiple of 16 (as many groups more) and the output narrowed back.
    private static Tensor Depthwise(Tensor input, Tensor weight, Tensor? bias, long stride, long padding)
    {
        var c = weight.shape[0];
        var add = Pad ? Padded(c) - c : 0;
        if (add == 0)
        {
            return nn.functional.conv2d(input, weight, bias, strides: [stride, stride], padding: [padding, padding], groups: c);
        }
        var w = nn.functional.pad(weight, [0, 0, 0, 0, 0, 0, 0, add]);
        var x = nn.functional.pad(input, [0, 0, 0, 0, 0, add]);
        var b = bias is null ? null : nn.functional.pad(bias, [0, add]);
        var y = nn.functional.conv2d(x, w, b, strides: [stride, stride], padding: [padding, padding], groups: c + add);
        return y.narrow(1, 0, c);
    }

    /// <summary>The channel count the faulty kernels are given instead of <paramref name="channels"/>.</summary>
    public static long Padded(long channels) => (channels + Block - 1) / Block * Block;
}
