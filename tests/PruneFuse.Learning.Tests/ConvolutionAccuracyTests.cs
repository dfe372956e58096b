using PruneFuse.Learning.Models;
using PruneFuse.Learning.Pruning;
using PruneFuse.Learning.Runtime;
using PruneFuse.Learning.Training;
using static TorchSharp.torch;

namespace PruneFuse.Learning.Tests;

/// <summary>
/// Pruned widths are arbitrary channel counts. On an AMD EPYC (Zen 4) host libtorch 2.10's oneDNN float32 convolutions
/// were wrong (up to 0.3 relative, or NaN) in the forward pass for 17-47 input channels except 32, and in the input
/// gradient for every output channel count that is not a multiple of 16; the runtime pads exactly those cases.
/// </summary>
public sealed class ConvolutionAccuracyTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 5)]
    [InlineData(5, 10)]
    [InlineData(10, 19)]
    [InlineData(19, 19)]
    [InlineData(22, 22)]
    [InlineData(32, 45)]
    [InlineData(45, 45)]
    [InlineData(64, 64)]
    public void Float32_convolutions_of_pruned_widths_match_float64(int inChannels, int outChannels)
    {
        TorchRuntime.EnsureLoaded();
        output.WriteLine($"oneDNN: {TorchRuntime.OneDnnWorkaround ?? "right as it is"}");
        using var scope = NewDisposeScope();
        manual_seed(inChannels * 100 + outChannels);
        var x = randn(16, inChannels, 28, 28);
        var w = randn(outChannels, inChannels, 3, 3) * 0.1;
        foreach (var stride in new long[] { 1, 2 })
        {
            var y = Convolution.Apply(x, w, null, stride, 1).to_type(ScalarType.Float64);
            var reference = nn.functional.conv2d(x.to_type(ScalarType.Float64), w.to_type(ScalarType.Float64), strides: [stride, stride], padding: [1, 1]);
            var error = (y - reference).abs().max().item<double>();
            Assert.True(error < 1e-3, $"conv {inChannels}->{outChannels} stride {stride}: float32 off by {error:G3}");
        }
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(1, 8)]
    [InlineData(5, 5)]
    [InlineData(8, 8)]
    [InlineData(10, 10)]
    [InlineData(16, 16)]
    [InlineData(19, 19)]
    [InlineData(32, 32)]
    [InlineData(1, 8, false)]
    [InlineData(19, 19, false)]
    public void Float32_convolution_gradients_of_pruned_widths_match_float64(int inChannels, int outChannels, bool inputGradient = true)
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        manual_seed(inChannels * 100 + outChannels + 7);
        var x0 = randn(16, inChannels, 28, 28);
        var w0 = randn(outChannels, inChannels, 3, 3) * 0.1;
        var g0 = randn(16, outChannels, 28, 28);
        (Tensor Dx, Tensor Dw) Grads(ScalarType type)
        {
            var x = x0.to_type(type).detach().clone().requires_grad_(inputGradient);
            var w = w0.to_type(type).detach().clone().requires_grad_(true);
            (Convolution.Apply(x, w, null, 1, 1) * g0.to_type(type)).sum().backward();
            return (inputGradient ? x.grad!.to_type(ScalarType.Float64) : zeros(1, dtype: ScalarType.Float64), w.grad!.to_type(ScalarType.Float64));
        }
        var (dx32, dw32) = Grads(ScalarType.Float32);
        var (dx64, dw64) = Grads(ScalarType.Float64);
        var ex = (dx32 - dx64).abs().max().item<double>();
        var ew = (dw32 - dw64).abs().max().item<double>() / Math.Max(1, dw64.abs().max().item<double>());
        Assert.True(ex < 1e-3 && ew < 1e-3, $"conv {inChannels}->{outChannels}: input gradient off by {ex:G3}, weight gradient by {ew:G3} (relative)");
    }
}
