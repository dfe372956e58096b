using System.Globalization;
using System.Runtime.CompilerServices;

namespace PruneFuse.Grains.Storage;

/// <summary>
/// Artifacts as files under one root folder (the embedded default). Writes go to a temporary file in the same
/// folder and are renamed into place, so readers never see partial content.
/// </summary>
public sealed class FileSystemArtifactStore : IArtifactStore
{
    private const string TempSuffix = ".partial";
    private readonly string _root;

    /// <summary>Uses (and creates) <paramref name="root"/>.</summary>
    public FileSystemArtifactStore(string root)
    {
        if (string.IsNullOrWhiteSpace(root)) throw new ArgumentException("artifact store root folder is empty");
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(_root);
        RemoveStaleTemporaryFiles();
    }

    // Temporary files left by a process killed mid-write (one silo owns a data root, so none is in use at start).
    private void RemoveStaleTemporaryFiles()
    {
        foreach (var f in Directory.EnumerateFiles(_root, "*" + TempSuffix, SearchOption.AllDirectories))
        {
            try
            {
                File.Delete(f);
            }
            catch (IOException)
            {
                // Best effort: a file that cannot go now is ignored by every reader and retried at the next start.
            }
        }
    }

    /// <inheritdoc />
    public string Description => $"folder {_root}";

    private string PathOf(string name)
    {
        ArtifactName.Validate(name);
        var full = Path.GetFullPath(Path.Combine(_root, name.Replace('/', Path.DirectorySeparatorChar)));
        // Defence in depth: validation already excludes '..' and absolute names.
        if (!full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new ArgumentException($"artifact name '{name}' resolves outside the store");
        }
        return full;
    }

    /// <inheritdoc />
    public async Task<ArtifactInfo> PutAsync(string name, Stream content, bool overwrite = true, CancellationToken cancellationToken = default)
    {
        var path = PathOf(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!overwrite && File.Exists(path)) throw new ArtifactConflictException(name, Description);
        var tmp = $"{path}.{Guid.NewGuid():N}{TempSuffix}";
        try
        {
            await using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await content.CopyToAsync(f, cancellationToken).ConfigureAwait(false);
                await f.FlushAsync(cancellationToken).ConfigureAwait(false);
                f.Flush(flushToDisk: true);
            }
            if (overwrite)
            {
                File.Move(tmp, path, overwrite: true);
            }
            else
            {
                try
                {
                    File.Move(tmp, path, overwrite: false);
                }
                catch (IOException) when (File.Exists(path))
                {
                    throw new ArtifactConflictException(name, Description);
                }
            }
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        return Info(name, new FileInfo(path));
    }

    /// <inheritdoc />
    public Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        var path = PathOf(name);
        try
        {
            Stream s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, useAsync: true);
            return Task.FromResult(s);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ArtifactNotFoundException(name, Description);
        }
    }

    /// <inheritdoc />
    public Task<ArtifactInfo?> GetInfoAsync(string name, CancellationToken cancellationToken = default)
    {
        var fi = new FileInfo(PathOf(name));
        return Task.FromResult(fi.Exists ? Info(name, fi) : null);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArtifactName.ValidatePrefix(prefix);
        await Task.Yield();
        if (!Directory.Exists(_root)) yield break;
        var names = Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(TempSuffix, StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(_root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
        foreach (var n in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var fi = new FileInfo(Path.Combine(_root, n));
            if (fi.Exists) yield return Info(n, fi);
        }
    }

    /// <inheritdoc />
    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        var path = PathOf(name);
        if (!File.Exists(path)) return Task.FromResult(false);
        File.Delete(path);
        // Folders exist only to hold artifacts: one left empty goes too, up to the store's root, as in blob storage.
        for (var dir = Path.GetDirectoryName(path); dir is not null && dir.Length > _root.Length
            && dir.StartsWith(_root, StringComparison.Ordinal);
             dir = Path.GetDirectoryName(dir))
        {
            try
            {
                if (Directory.EnumerateFileSystemEntries(dir).Any()) break;
                Directory.Delete(dir);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                break; // another writer put something there meanwhile, or it went already
            }
        }
        return Task.FromResult(true);
    }

    private static ArtifactInfo Info(string name, FileInfo fi) =>
        new(name, fi.Length, $"\"{fi.Length:x}-{fi.LastWriteTimeUtc.Ticks.ToString("x", CultureInfo.InvariantCulture)}\"", new DateTimeOffset(fi.LastWriteTimeUtc));
}
