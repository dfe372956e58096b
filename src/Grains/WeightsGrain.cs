using System.Security.Cryptography;
using PruneFuse.Grains.Compute;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Models;

namespace PruneFuse.Grains;

/// <summary>Receives an uploaded weights file in parts and stores it under its digest once it checks out.</summary>
public sealed class WeightsGrain(IArtifactStore store, TorchWorker compute) : Grain, IWeightsGrain
{
    // Parts received so far, in order (null: no upload in progress).
    private List<byte[]>? _parts;
    private long _received;

    private string Digest => this.GetPrimaryKeyString();

    /// <inheritdoc />
    public async Task<long?> StoredLength() => (await store.GetInfoAsync(ArtifactLayout.InitialWeights(Digest)))?.Length;

    /// <inheritdoc />
    public Task Append(long offset, byte[] part)
    {
        ArtifactLayout.InitialWeights(Digest);
        ArgumentNullException.ThrowIfNull(part);
        if (part.Length > IWeightsGrain.MaxPartBytes) throw new ArgumentException($"a part holds at most {IWeightsGrain.MaxPartBytes} bytes, got {part.Length}");
        if (offset == 0)
        {
            _parts = [];
            _received = 0;
        }
        if (_parts is null || _received != offset)
        {
            throw new InvalidOperationException($"weights upload {Digest[..12]}…: expected the part at byte {_received}, got {offset}; start the upload again");
        }
        if (offset + part.Length > IWeightsGrain.MaxBytes) throw new ArgumentException($"weights files are limited to {IWeightsGrain.MaxBytes >> 20} MiB");
        _parts.Add(part);
        _received += part.Length;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<int> Commit(long length)
    {
        var name = ArtifactLayout.InitialWeights(Digest);
        if (_parts is null || _received != length)
        {
            throw new InvalidOperationException($"weights upload {Digest[..12]}…: received {_received} of {length} bytes; start the upload again");
        }
        var bytes = new byte[length];
        var at = 0;
        foreach (var p in _parts)
        {
            p.CopyTo(bytes, at);
            at += p.Length;
        }
        _parts = null;
        var digest = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (digest != Digest) throw new ArgumentException($"the uploaded weights have SHA-256 {digest}, not {Digest}: the file changed or was damaged on the way");
        var tensors = await compute.Run(_ =>
        {
            var state = InitialWeights.Read(bytes, "the uploaded weights");
            foreach (var t in state.Values) t.Dispose();
            return state.Count;
        });
        if (tensors == 0) throw new ArgumentException("the uploaded weights file holds no tensors");
        await store.PutBytesAsync(name, bytes);
        DeactivateOnIdle();
        return tensors;
    }
}
