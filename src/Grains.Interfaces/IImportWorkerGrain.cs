namespace PruneFuse.Grains.Interfaces;

/// <summary>
/// One silo's import worker (key = the silo's address; always placed there): decodes one pool shard of an import
/// from the source, as the silo sees it, and writes the shard, its source keys and its pixel sums to the artifact
/// store.
/// </summary>
[Alias("prunefuse.IImportWorkerGrain")]
public interface IImportWorkerGrain : IGrainWithStringKey
{
    /// <summary>
    /// Decodes and writes shard <see cref="ImportShardRequest.Shard"/>; unreadable images refuse it (named in the
    /// answer, as data, and nothing written) unless the import skips them. The stored pixel sums are written last:
    /// they mark the shard complete.
    /// </summary>
    [ResponseTimeout("02:00:00")]
    Task<ImportedShard> DecodeShard(ImportShardRequest request, CancellationToken cancellationToken = default);
}

/// <summary>One pool shard of an import: which listed entries it holds and where it goes.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ImportShardRequest")]
public sealed record ImportShardRequest
{
    /// <summary>The dataset being imported.</summary>
    [Id(0)] public string DatasetId { get; init; } = "";

    /// <summary>The import (the worker lists the same source; it is listed once per silo).</summary>
    [Id(1)] public DatasetImportRequest Import { get; init; } = new();

    /// <summary>Shard index.</summary>
    [Id(2)] public int Shard { get; init; }

    /// <summary>Position of the shard's first entry among the pool's entries.</summary>
    [Id(3)] public int Start { get; init; }

    /// <summary>Entries in the shard.</summary>
    [Id(4)] public int Count { get; init; }

    /// <summary>Sample id of the shard's first sample.</summary>
    [Id(5)] public long FirstId { get; init; }

    /// <summary>Classes of the dataset (the shard header carries it).</summary>
    [Id(6)] public int Classes { get; init; }

    /// <summary>Pool entries the plan has in all, so a worker whose listing differs refuses instead of writing wrong
    /// shards.</summary>
    [Id(7)] public int PoolEntries { get; init; }
}

/// <summary>A written pool shard: how many samples it kept, its pixel sums, and who decoded it how fast.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ImportedShard")]
public sealed record ImportedShard
{
    /// <summary>Shard index.</summary>
    [Id(0)] public int Shard { get; init; }

    /// <summary>Samples kept (0 when every image of the shard was unreadable and skipped: no shard is
    /// written).</summary>
    [Id(1)] public int Count { get; init; }

    /// <summary>Sample id of the first sample.</summary>
    [Id(2)] public long FirstId { get; init; }

    /// <summary>Unreadable images skipped, as "source: reason".</summary>
    [Id(3)] public string[] Skipped { get; init; } = [];

    /// <summary>Per-channel sums of pixel values.</summary>
    [Id(4)] public long[] Sums { get; init; } = [];

    /// <summary>Per-channel sums of squared pixel values.</summary>
    [Id(5)] public long[] Squares { get; init; } = [];

    /// <summary>Pixels per channel.</summary>
    [Id(6)] public long Pixels { get; init; }

    /// <summary>The silo that decoded it.</summary>
    [Id(7)] public string Silo { get; init; } = "";

    /// <summary>Seconds the decode and write took.</summary>
    [Id(8)] public double Seconds { get; init; }

    /// <summary>Entries the shard held (kept and skipped).</summary>
    [Id(9)] public int Entries { get; init; }

    /// <summary>Unreadable images that refuse the import (without --skip-bad): their files or members; nothing was
    /// written.</summary>
    [Id(10)] public string[] RefusedPaths { get; init; } = [];

    /// <summary>Why each of <see cref="RefusedPaths"/> is unreadable.</summary>
    [Id(11)] public string[] RefusedReasons { get; init; } = [];
}
