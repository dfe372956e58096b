namespace PruneFuse.Grains.Interfaces;

/// <summary>
/// A network's initial weights uploaded by a client for <c>--init-weights</c> (key = the file's SHA-256, 64 lower-case
/// hex digits). The client sends the file in parts, then commits it: the grain checks the digest and that the file is
/// a state dict before it is stored, so an experiment names weights only by a digest the store verifies.
/// </summary>
[Alias("prunefuse.IWeightsGrain")]
public interface IWeightsGrain : IGrainWithStringKey
{
    /// <summary>Largest part one <see cref="Append"/> takes (messages over 100 MB close Orleans connections).</summary>
    public const int MaxPartBytes = 8 << 20;

    /// <summary>Largest weights file accepted.</summary>
    public const long MaxBytes = 1L << 30;

    /// <summary>Size of the stored file; null while it is not stored.</summary>
    Task<long?> StoredLength();

    /// <summary>Appends the next part; <paramref name="offset"/> must be the bytes received so far (0 starts
    /// over).</summary>
    [ResponseTimeout("00:02:00")]
    Task Append(long offset, byte[] part);

    /// <summary>
    /// Checks the <paramref name="length"/> bytes received against the key's digest and that they are a safetensors
    /// file or a <c>torch.save</c> state dict, then stores them. Returns how many tensors the file holds.
    /// </summary>
    [ResponseTimeout("00:10:00")]
    Task<int> Commit(long length);
}
