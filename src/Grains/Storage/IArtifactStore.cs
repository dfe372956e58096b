namespace PruneFuse.Grains.Storage;

/// <summary>What the store knows about one artifact.</summary>
/// <param name="Name">Validated artifact name, e.g. <c>experiments/e1/checkpoints/theta0.pfc</c>.</param>
/// <param name="Length">Size in bytes.</param>
/// <param name="ETag">Opaque version tag; changes whenever the content is replaced.</param>
/// <param name="LastModified">When the content was last written.</param>
public sealed record ArtifactInfo(string Name, long Length, string ETag, DateTimeOffset LastModified);

/// <summary>
/// Where datasets, checkpoints, selections and reports live: a filesystem folder in the embedded default, an Azure
/// Blob container in a cluster. Names are validated by <see cref="ArtifactName"/>; writes are atomic (a reader sees
/// the old or the new content, never a mix).
/// </summary>
public interface IArtifactStore
{
    /// <summary>A human-readable description of where artifacts go (never contains secrets).</summary>
    string Description { get; }

    /// <summary>Writes <paramref name="content"/> under <paramref name="name"/>. With <paramref name="overwrite"/> false an existing artifact is a conflict.</summary>
    Task<ArtifactInfo> PutAsync(string name, Stream content, bool overwrite = true, CancellationToken cancellationToken = default);

    /// <summary>Opens an artifact for reading; throws <see cref="ArtifactNotFoundException"/> if it does not exist.</summary>
    Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Information about an artifact, or null if it does not exist.</summary>
    Task<ArtifactInfo?> GetInfoAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Artifacts whose names start with <paramref name="prefix"/> (a folder such as <c>datasets/fmnist/</c>), in name order.</summary>
    IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Deletes an artifact; returns false if it did not exist.</summary>
    Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default);
}

/// <summary>Convenience operations on any <see cref="IArtifactStore"/>.</summary>
public static class ArtifactStoreExtensions
{
    /// <summary>Writes a byte array.</summary>
    public static Task<ArtifactInfo> PutBytesAsync(this IArtifactStore store, string name, byte[] content, bool overwrite = true, CancellationToken cancellationToken = default) =>
        store.PutAsync(name, new MemoryStream(content, writable: false), overwrite, cancellationToken);

    /// <summary>Reads a whole artifact.</summary>
    public static async Task<byte[]> ReadBytesAsync(this IArtifactStore store, string name, CancellationToken cancellationToken = default)
    {
        await using var s = await store.OpenReadAsync(name, cancellationToken).ConfigureAwait(false);
        using var ms = new MemoryStream();
        await s.CopyToAsync(ms, cancellationToken).ConfigureAwait(false);
        return ms.ToArray();
    }
}

/// <summary>The named artifact does not exist.</summary>
public sealed class ArtifactNotFoundException(string name, string store)
    : Exception($"artifact '{name}' not found in {store}")
{
    /// <summary>The missing artifact's name.</summary>
    public string ArtifactName { get; } = name;
}

/// <summary>The artifact exists and the write asked not to overwrite it.</summary>
public sealed class ArtifactConflictException(string name, string store)
    : Exception($"artifact '{name}' already exists in {store}")
{
    /// <summary>The existing artifact's name.</summary>
    public string ArtifactName { get; } = name;
}
