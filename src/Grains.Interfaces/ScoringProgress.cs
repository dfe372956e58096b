namespace PruneFuse.Grains.Interfaces;

/// <summary>Where the current round's pool scoring is: shards answered so far, per silo, with each silo's rate.</summary>
[GenerateSerializer, Immutable, Alias("prunefuse.ScoringProgress")]
public sealed record ScoringProgress
{
    /// <summary>The round being scored.</summary>
    [Id(0)] public int Round { get; init; }

    /// <summary>Pool shards to score this round.</summary>
    [Id(1)] public int Shards { get; init; }

    /// <summary>Seconds since scoring started.</summary>
    [Id(2)] public double Seconds { get; init; }

    /// <summary>One entry per silo that has answered for at least one shard, ordered by silo.</summary>
    [Id(3)] public SiloScoring[] Silos { get; init; } = [];

    /// <summary>Shards answered so far.</summary>
    public int ShardsDone => Silos.Sum(s => s.Shards);

    /// <summary>Samples scored so far.</summary>
    public long Scored => Silos.Sum(s => s.Scored);
}

/// <summary>One silo's share of a round's scoring.</summary>
/// <param name="Silo">The silo's address, as <c>cluster status</c> shows it.</param>
/// <param name="Shards">Shards it has scored this round.</param>
/// <param name="Scored">Samples it has scored this round.</param>
/// <param name="Seconds">Seconds its shards took (summed over shards; a silo scores its shards one after another).</param>
[GenerateSerializer, Immutable, Alias("prunefuse.SiloScoring")]
public sealed record SiloScoring([property: Id(0)] string Silo, [property: Id(1)] int Shards, [property: Id(2)] long Scored, [property: Id(3)] double Seconds)
{
    /// <summary>This silo's scoring rate.</summary>
    public double SamplesPerSecond => Seconds > 0 ? Scored / Seconds : 0;
}
