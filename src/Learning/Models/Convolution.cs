using PruneFuse.Learning.Runtime;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Models;

/// <summary>
/// The one place networks run a 2-D convolution. Where the runtime found libtorch's oneDNN float32 convolutions wrong
/// for channel counts that are not multiples of 16 (<see cref="TorchRuntime.PadConvolutionChannels"/>; measured: the
/// forward pass for 17-24 or 35 input channels, the input gradient for 5, 8 or 10 output channels), it pads both
/// channel counts with zeros to the next multiple of 16 and narrows the output back: the same function and the same
/// gradients, computed by kernels that are right, at the cost of the padded channels' MACs. An image input of fewer
/// than 4 channels is left as it is (its forward pass is right and needs no input gradient).
/// </summary>
public static class Convolution
{
    private const int Block = 16;

    /// <summary>conv2d of <paramref name="input"/> with <paramref name="weight"/> [out, in, k, k] and optional bias.</summary>
    public static Tensor Apply(Tensor input, Tensor weight, Tensor? bias, long stride, long padding)
    {
        var cout = weight.shape[0];
        var cin = weight.shape[1];
        var paddedIn = cin < 4 ? cin : Padded(cin);
        if (!TorchRuntime.PadConvolutionChannels || (paddedIn == cin && Padded(cout) == cout))
        {
            return nn.functional.conv2d(input, weight, bias, strides: [stride, stride], padding: [padding, padding]);
        }
        var addIn = paddedIn - cin;
        var addOut = Padded(cout) - cout;
        // pad lists pairs from the last dimension: (W), (H), (in), (out).
        var w = nn.functional.pad(weight, [0, 0, 0, 0, 0, addIn, 0, addOut]);
        var x = addIn > 0 ? nn.functional.pad(input, [0, 0, 0, 0, 0, addIn]) : input;
        var b = bias is not null && addOut > 0 ? nn.functional.pad(bias, [0, addOut]) : bias;
        var y = nn.functional.conv2d(x, w, b, strides: [stride, stride], padding: [padding, padding]);
        return addOut > 0 ? y.narrow(1, 0, cout) : y;
    }

    /// <summary>The channel count the faulty kernels are given instead of <paramref name="channels"/>.</summary>
    public static long Padded(long channels) => (channels + Block - 1) / Block * Block;
}
