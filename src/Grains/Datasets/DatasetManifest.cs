using System.Text.Json;
using PruneFuse.Grains.Interfaces;
using PruneFuse.Grains.Storage;
using PruneFuse.Learning.Data;

namespace PruneFuse.Grains.Datasets;

/// <summary>One pool shard in a manifest: ids FirstId..FirstId+Count-1.</summary>
public sealed record ShardEntry(int Index, string Artifact, long FirstId, int Count)
{
    /// <summary>The artifact with the shard's source keys (<see cref="SourceKeys"/>); null when the import kept
    /// none.</summary>
    public string? Keys { get; init; }
}

/// <summary>A shard's source keys: a JSON array of strings, one per sample in id order.</summary>
public static class SourceKeys
{
    /// <summary>Serialises <paramref name="keys"/>.</summary>
    public static byte[] ToJson(string[] keys) => JsonSerializer.SerializeToUtf8Bytes(keys);

    /// <summary>Parses a keys artifact of a shard of <paramref name="count"/> samples; errors name <paramref
    /// name="source"/>.</summary>
    public static string[] Parse(byte[] json, string source, int count)
    {
        string[]? keys;
        try
        {
            keys = JsonSerializer.Deserialize<string[]>(json);
        }
        catch (JsonException e)
        {
            throw new DataFormatException(source, $"not a valid source-key list: {e.Message}", e);
        }
        if (keys is null || keys.Length != count) throw new DataFormatException(source,
            $"lists {keys?.Length ?? 0} source keys for a shard of {count} samples");
        return keys;
    }
}

/// <summary>A dataset's manifest (JSON in the store).</summary>
public sealed record DatasetManifest
{
    /// <summary>Manifest format version.</summary>
    public int Version { get; init; } = 1;

    /// <summary>Dataset id.</summary>
    public required string DatasetId { get; init; }

    /// <summary>Image channels.</summary>
    public required int Channels { get; init; }

    /// <summary>Image height.</summary>
    public required int Height { get; init; }

    /// <summary>Image width.</summary>
    public required int Width { get; init; }

    /// <summary>Classes.</summary>
    public required int Classes { get; init; }

    /// <summary>Normalisation applied before every network.</summary>
    public required ImageNormalization Normalization { get; init; }

    /// <summary>Pool shards.</summary>
    public required ShardEntry[] Shards { get; init; }

    /// <summary>Test shard artifact.</summary>
    public required string TestShard { get; init; }

    /// <summary>Test samples.</summary>
    public required int TestCount { get; init; }

    /// <summary>The pool limit the dataset was imported with (0 = the whole source), so a re-import can be recognised.</summary>
    public int ImportLimit { get; init; }

    /// <summary>False for an unlabeled pool: experiments on it need external labels.</summary>
    public bool PoolLabeled { get; init; } = true;

    /// <summary>Where the dataset came from: <c>fashion-mnist</c> or <c>images</c>.</summary>
    public string Source { get; init; } = "fashion-mnist";

    /// <summary>The image-folder import request as JSON, so re-importing the same folders is recognised (null for IDX imports).</summary>
    public string? ImportRequest { get; init; }

    /// <summary>Class names by label index (null when the source has none).</summary>
    public string[]? ClassNames { get; init; }

    /// <summary>Pool size.</summary>
    public int PoolSize => Shards.Sum(s => s.Count);

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    /// <summary>Serialises to JSON bytes.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    /// <summary>The stored manifest of <paramref name="datasetId"/>; an unknown dataset is an error saying how to import it.</summary>
    public static async Task<DatasetManifest> LoadAsync(IArtifactStore store, string datasetId)
    {
        var name = ArtifactLayout.DatasetManifest(datasetId);
        try
        {
            return Parse(await store.ReadBytesAsync(name), name);
        }
        catch (ArtifactNotFoundException)
        {
            throw new ArgumentException($"unknown dataset '{datasetId}': import it first (prunefuse dataset import)");
        }
    }

    /// <summary>Parses and validates a manifest; errors name <paramref name="source"/>.</summary>
    public static DatasetManifest Parse(byte[] json, string source)
    {
        DatasetManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<DatasetManifest>(json, Json);
        }
        catch (JsonException e)
        {
            throw new DataFormatException(source, $"not a valid dataset manifest: {e.Message}", e);
        }
        if (m is null || m.Shards is null || m.Shards.Length == 0) throw new DataFormatException(source, "manifest lists no pool shards");
        if (m.Version != 1) throw new DataFormatException(source, $"unsupported manifest version {m.Version}");
        return m;
    }

    /// <summary>Public description.</summary>
    public DatasetInfo ToInfo() => new()
    {
        DatasetId = DatasetId, PoolSize = PoolSize, TestSize = TestCount, Shards = Shards.Length, Shape = [Channels, Height, Width], Classes = Classes,
        ClassNames = ClassNames ?? [], PoolLabeled = PoolLabeled, Source = Source,
    };
}
