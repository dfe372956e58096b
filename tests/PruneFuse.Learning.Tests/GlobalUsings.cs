global using Xunit;
global using PruneFuse.Tests.Shared;
global using static PruneFuse.Learning.Tests.TensorExtensions;

namespace PruneFuse.Learning.Tests;

internal static class TensorExtensions
{
    /// <summary>True when both tensors have the same shape and bit-identical values.</summary>
    public static bool Identical(TorchSharp.torch.Tensor a, TorchSharp.torch.Tensor b) =>
        a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}
