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

    /// <summary>A fresh temporary directory, removed by the caller's using.</summary>
    public static TempDir NewTempDir() => new();
}

internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "prunefuse-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
