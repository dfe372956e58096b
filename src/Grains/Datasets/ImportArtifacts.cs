using System.Text.Json;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;
using PruneFuse.Learning.Data.Import;

namespace PruneFuse.Grains.Datasets;

/// <summary>
/// How one imported pool shard is stored: its source keys, the shard, then a marker with its pixel sums and the
/// import it belongs to. The marker is written last, so a shard with a marker is complete and a rerun of the same
/// import keeps it.
/// </summary>
public static class ImportArtifacts
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The stored marker: which import, and what the worker reported.</summary>
    private sealed record Marker(string Import, ImportedShard Shard);

    /// <summary>
    /// Writes <paramref name="shard"/> (null: every image skipped, only the marker) and returns its report, whose
    /// seconds are <paramref name="clock"/>'s once the shard is stored (decoding and writing both count).
    /// </summary>
    public static async Task<ImportedShard> WriteAsync(IArtifactStore store, ImportShardRequest request,
        DecodedShard? shard, string[] skipped,
        string silo, System.Diagnostics.Stopwatch clock, CancellationToken cancellationToken)
    {
        var id = request.DatasetId;
        var statistics = new PixelStatistics(request.Import.Channels);
        if (shard is not null)
        {
            statistics.Add(shard.Images);
            await store.PutBytesAsync(ArtifactLayout.PoolShardKeys(id, request.Shard), SourceKeys.ToJson(shard.Keys),
                cancellationToken: cancellationToken);
            await using var content = PoolShardFormat.OpenRead(shard.Images, request.Classes);
            await store.PutAsync(ArtifactLayout.PoolShard(id, request.Shard), content,
                cancellationToken: cancellationToken);
        }
        var report = new ImportedShard
        {
            Shard = request.Shard, Count = shard?.Images.Count ?? 0, FirstId = request.FirstId, Skipped = skipped,
                Sums = statistics.Sums,
            Squares = statistics.Squares, Pixels = statistics.PixelsPerChannel, Silo = silo,
                Seconds = clock.Elapsed.TotalSeconds, Entries = request.Count,
        };
        var marker = JsonSerializer.SerializeToUtf8Bytes(new Marker(ImportSourceCache.Fingerprint(request.Import),
            report), Json);
        await store.PutBytesAsync(ArtifactLayout.PoolShardDone(id, request.Shard), marker,
            cancellationToken: cancellationToken);
        return report;
    }

    /// <summary>
    /// The report of shard <paramref name="request"/> if an earlier run of the same import completed it (marker,
    /// shard and keys present, the shard the size the report says), else null.
    /// </summary>
    public static async Task<ImportedShard?> CompletedAsync(IArtifactStore store, ImportShardRequest request,
        CancellationToken cancellationToken)
    {
        var id = request.DatasetId;
        byte[] bytes;
        try
        {
            bytes = await store.ReadBytesAsync(ArtifactLayout.PoolShardDone(id, request.Shard), cancellationToken);
        }
        catch (ArtifactNotFoundException)
        {
            return null;
        }
        Marker? marker;
        try
        {
            marker = JsonSerializer.Deserialize<Marker>(bytes, Json);
        }
        catch (JsonException)
        {
            return null; // a damaged marker: the shard is decoded again
        }
        if (marker is null || marker.Import != ImportSourceCache.Fingerprint(request.Import)
            || marker.Shard.Entries != request.Count
            || marker.Shard.FirstId != request.FirstId)
        {
            return null;
        }
        if (marker.Shard.Count == 0) return marker.Shard;
        var info = await store.GetInfoAsync(ArtifactLayout.PoolShard(id, request.Shard), cancellationToken);
        var imageBytes = (long)request.Import.Channels * request.Import.Height * request.Import.Width;
        var expected = PoolShardFormat.HeaderLength + marker.Shard.Count * (12 + imageBytes);
        var keys = await store.GetInfoAsync(ArtifactLayout.PoolShardKeys(id, request.Shard), cancellationToken);
        return info is not null && info.Length == expected && keys is not null ? marker.Shard : null;
    }
}
