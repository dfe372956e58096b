using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace PruneFuse.Grains.Storage;

/// <summary>
/// Artifacts as block blobs in one Azure Blob container (cluster mode; Azurite in tests). Uploads are committed
/// atomically by the service; "no overwrite" is an <c>If-None-Match: *</c> condition, so two writers cannot both win.
/// </summary>
public sealed class AzureBlobArtifactStore : IArtifactStore
{
    private readonly BlobContainerClient _container;
    private readonly Lazy<Task> _createContainer;

    /// <summary>Uses container <paramref name="containerName"/> of <paramref name="service"/>, creating it on first write.</summary>
    public AzureBlobArtifactStore(BlobServiceClient service, string containerName)
    {
        ArgumentNullException.ThrowIfNull(service);
        _container = service.GetBlobContainerClient(containerName);
        _createContainer = new(() => _container.CreateIfNotExistsAsync(), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <inheritdoc />
    public string Description => $"blob container '{_container.Name}' at {_container.Uri.GetLeftPart(UriPartial.Authority)}";

    private Task EnsureContainerAsync(CancellationToken ct) => _createContainer.Value.WaitAsync(ct);

    /// <inheritdoc />
    public async Task<ArtifactInfo> PutAsync(string name, Stream content, bool overwrite = true, CancellationToken cancellationToken = default)
    {
        ArtifactName.Validate(name);
        await EnsureContainerAsync(cancellationToken).ConfigureAwait(false);
        var blob = _container.GetBlobClient(name);
        var options = new BlobUploadOptions();
        if (!overwrite) options.Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All };
        try
        {
            var r = await blob.UploadAsync(content, options, cancellationToken).ConfigureAwait(false);
            var props = await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return new ArtifactInfo(name, props.Value.ContentLength, r.Value.ETag.ToString(), r.Value.LastModified);
        }
        catch (RequestFailedException e) when (!overwrite && e.Status is 409 or 412)
        {
            throw new ArtifactConflictException(name, Description);
        }
    }

    /// <inheritdoc />
    public async Task<Stream> OpenReadAsync(string name, CancellationToken cancellationToken = default)
    {
        ArtifactName.Validate(name);
        try
        {
            var r = await _container.GetBlobClient(name).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return r.Value.Content;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new ArtifactNotFoundException(name, Description);
        }
    }

    /// <inheritdoc />
    public async Task<ArtifactInfo?> GetInfoAsync(string name, CancellationToken cancellationToken = default)
    {
        ArtifactName.Validate(name);
        try
        {
            var p = await _container.GetBlobClient(name).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return new ArtifactInfo(name, p.Value.ContentLength, p.Value.ETag.ToString(), p.Value.LastModified);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArtifactName.ValidatePrefix(prefix);
        if (!await _container.ExistsAsync(cancellationToken).ConfigureAwait(false)) yield break;
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix.Length == 0 ? null : prefix }, cancellationToken).ConfigureAwait(false))
        {
            yield return new ArtifactInfo(item.Name, item.Properties.ContentLength ?? 0, item.Properties.ETag?.ToString() ?? "", item.Properties.LastModified ?? DateTimeOffset.MinValue);
        }
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        ArtifactName.Validate(name);
        try
        {
            var r = await _container.GetBlobClient(name).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return r.Value;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return false;
        }
    }
}
