using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;

namespace PruneFuse.Grains.Datasets;

/// <summary>How an import's failures are said: refused images by name, memory and disk in words.</summary>
public static class ImportErrors
{
    /// <summary>The error that refuses an import for its unreadable images (at least one), naming the first
    /// few.</summary>
    public static DataFormatException Refusal(IReadOnlyList<BadImage> bad) =>
        new(bad[0].Path, $"{bad.Count} unreadable image(s), nothing imported: " +
            string.Join("; ", bad.Take(5).Select(b => $"{b.Path}: {b.Reason}")) + (bad.Count > 5 ? "; …" : "")
                + ". Fix or remove them, or pass --skip-bad");

    /// <summary>
    /// <paramref name="e"/> in words when it is the machine running out of memory or disk, else itself; the import
    /// of <paramref name="datasetId"/> is named.
    /// </summary>
    public static Exception InWords(Exception e, string datasetId) => e switch
    {
        OutOfMemoryException
            => new InvalidOperationException($"the silo ran out of memory importing dataset '{datasetId}': lower "
            + $"--shard-size " +
            "(one shard is held in memory while it is written) or give the silo more memory; nothing was imported", e),
        IOException io when (io.HResult & 0xFFFF) is 28 or 112 => // ENOSPC, ERROR_DISK_FULL
            new IOException($"the artifact store's disk is full while importing dataset '{datasetId}': {io.Message}; "
                + $"nothing was imported", io),
        _ => e,
    };
}
