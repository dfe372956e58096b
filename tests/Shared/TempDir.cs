namespace PruneFuse.Tests.Shared;

/// <summary>A fresh temporary folder, deleted (best effort) on dispose.</summary>
public sealed class TempDir(string prefix = "prunefuse-test-") : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
