using PruneFuse.Learning.Data;
using PruneFuse.Learning.Runtime;

namespace PruneFuse.Learning.Tests;

/// <summary>Real Fashion-MNIST, loaded once. Missing data fails the test loudly; it is never skipped.</summary>
internal static class TestData
{
    private static readonly Lazy<ImageSet> LazyTrain = new(() => FashionMnist.LoadTrain());
    private static readonly Lazy<ImageSet> LazyTest = new(() => FashionMnist.LoadTest());

    public static ImageSet Train => LazyTrain.Value;

    public static ImageSet Test => LazyTest.Value;

    public static ImageNormalization Norm => ImageNormalization.FashionMnist;

    static TestData() => TorchRuntime.EnsureLoaded();
}
